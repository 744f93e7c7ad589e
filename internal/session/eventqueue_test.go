package session_test

import (
	"sync"
	"testing"
	"time"

	"github.com/wagate/wagate/internal/session"
)

func TestEventQueue(t *testing.T) {
	t.Parallel()
	t.Run("CallsRunInQueueOrder", func(t *testing.T) {
		q := session.NewEventQueue()
		var mu sync.Mutex
		var got []int
		done := make(chan struct{})
		for i := range 100 {
			q.Emit(func() {
				mu.Lock()
				got = append(got, i)
				mu.Unlock()
				if i == 99 {
					close(done)
				}
			})
		}
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("queued calls did not run")
		}
		q.Close()
		for i, v := range got {
			if v != i {
				t.Fatalf("call %d ran as number %d: %v", v, i, got)
			}
		}
	})
	t.Run("CloseEndsContextAndDropsLaterCalls", func(t *testing.T) {
		q := session.NewEventQueue()
		q.Close()
		if q.Context().Err() == nil {
			t.Fatal("context still live after Close")
		}
		ran := false
		q.Emit(func() { ran = true }) // must return, not block
		if ran {
			t.Fatal("a call queued after Close ran")
		}
	})
}
