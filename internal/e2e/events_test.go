package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// envelope is an event as the WebSocket delivers it.
type envelope struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	TenantID  string          `json:"tenantId"`
	SessionID string          `json:"sessionId"`
	Data      json.RawMessage `json:"data"`
}

// decode unmarshals the event's data into v, failing the test on error.
func (e envelope) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(e.Data, v); err != nil {
		t.Fatalf("decode %s data %s: %v", e.Type, e.Data, err)
	}
}

// eventStream keeps every event a user's WebSocket connections delivered,
// in order, without duplicates. It survives wagate restarts: connect again
// to the new process and it resumes after the last event it has (?since=).
type eventStream struct {
	t testing.TB

	mu      sync.Mutex
	events  []envelope
	seen    map[string]bool
	changed chan struct{}
	readers sync.WaitGroup
}

func newEventStream(t testing.TB) *eventStream {
	s := &eventStream{t: t, seen: map[string]bool{}, changed: make(chan struct{})}
	t.Cleanup(s.readers.Wait)
	return s
}

// connect opens GET /ws/sessions on a process as c's user, resuming after
// the last event received so far. The connection ends when the process
// stops or the test ends.
func (s *eventStream) connect(c *client) {
	s.t.Helper()
	q := url.Values{"access_token": {c.token}}
	s.mu.Lock()
	if n := len(s.events); n > 0 {
		q.Set("since", s.events[n-1].ID)
	}
	s.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	s.t.Cleanup(cancel)
	dialCtx, dialCancel := context.WithTimeout(ctx, waitTimeout)
	defer dialCancel()
	conn, res, err := websocket.Dial(dialCtx, "ws"+strings.TrimPrefix(c.base, "http")+"/ws/sessions?"+q.Encode(), nil)
	if err != nil {
		s.t.Fatalf("open /ws/sessions: %v (%v)", err, res)
	}
	conn.SetReadLimit(1 << 20)
	s.readers.Add(1)
	go func() {
		defer s.readers.Done()
		defer conn.CloseNow()
		for {
			_, data, err := conn.Read(ctx)
			if err != nil {
				return // the process stopped, or the test ended
			}
			var ev envelope
			if err := json.Unmarshal(data, &ev); err != nil {
				s.t.Errorf("undecodable WebSocket message %q: %v", data, err)
				return
			}
			s.add(ev)
		}
	}()
}

func (s *eventStream) add(ev envelope) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen[ev.ID] {
		return
	}
	s.seen[ev.ID] = true
	s.events = append(s.events, ev)
	close(s.changed)
	s.changed = make(chan struct{})
}

// wait returns the first event of sessionID and type typ at index from or
// later that match accepts (nil accepts all), and the index after it.
func (s *eventStream) wait(from int, sessionID, typ string, match func(envelope) bool) (envelope, int) {
	s.t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		for i := from; i < len(s.events); i++ {
			ev := s.events[i]
			if ev.SessionID == sessionID && ev.Type == typ && (match == nil || match(ev)) {
				s.mu.Unlock()
				return ev, i + 1
			}
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-deadline.C:
			s.t.Fatalf("no %s event for session %s within %s; events from %d:\n%s", typ, sessionID, waitTimeout, from, s.dump(from))
		}
	}
}

// count is how many events of sessionID and type typ arrived from index from.
func (s *eventStream) count(from int, sessionID, typ string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ev := range s.events[min(from, len(s.events)):] {
		if ev.SessionID == sessionID && ev.Type == typ {
			n++
		}
	}
	return n
}

// len is how many events arrived so far.
func (s *eventStream) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}

func (s *eventStream) dump(from int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for i, ev := range s.events[min(from, len(s.events)):] {
		fmt.Fprintf(&b, "%d %s %s %s\n", from+i, ev.SessionID, ev.Type, ev.Data)
	}
	return b.String()
}

// reasonIs matches session.status.disconnected events with that reason.
func reasonIs(reason string) func(envelope) bool {
	return func(ev envelope) bool {
		var d struct {
			Reason string `json:"reason"`
		}
		return json.Unmarshal(ev.Data, &d) == nil && d.Reason == reason
	}
}
