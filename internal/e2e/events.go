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

// Envelope is an event as the WebSocket delivers it.
type Envelope struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	TenantID  string          `json:"tenantId"`
	SessionID string          `json:"sessionId"`
	Data      json.RawMessage `json:"data"`
}

// Decode unmarshals the event's data into v, failing the test on error.
func (e Envelope) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(e.Data, v); err != nil {
		t.Fatalf("decode %s data %s: %v", e.Type, e.Data, err)
	}
}

// EventStream keeps every event a user's WebSocket connections delivered,
// in order, without duplicates. It survives wagate restarts: connect again
// to the new process and it resumes after the last event it has (?since=).
type EventStream struct {
	t testing.TB

	mu      sync.Mutex
	events  []Envelope
	seen    map[string]bool
	changed chan struct{}
	readers sync.WaitGroup
}

// NewEventStream returns an empty stream; Connect feeds it.
func NewEventStream(t testing.TB) *EventStream {
	s := &EventStream{t: t, seen: map[string]bool{}, changed: make(chan struct{})}
	t.Cleanup(s.readers.Wait)
	return s
}

// Connect opens GET /ws/sessions on a process as c's user, resuming after
// the last event received so far. The connection ends when the process
// stops or the test ends.
func (s *EventStream) Connect(c *Client) {
	s.t.Helper()
	q := url.Values{"access_token": {c.Token}}
	s.mu.Lock()
	if n := len(s.events); n > 0 {
		q.Set("since", s.events[n-1].ID)
	}
	s.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	s.t.Cleanup(cancel)
	dialCtx, dialCancel := context.WithTimeout(ctx, WaitTimeout)
	defer dialCancel()
	conn, res, err := websocket.Dial(dialCtx, "ws"+strings.TrimPrefix(c.Base, "http")+"/ws/sessions?"+q.Encode(), nil)
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
			var ev Envelope
			if err := json.Unmarshal(data, &ev); err != nil {
				s.t.Errorf("undecodable WebSocket message %q: %v", data, err)
				return
			}
			s.add(ev)
		}
	}()
}

func (s *EventStream) add(ev Envelope) {
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

// Wait returns the first event of sessionID and type typ at index from or
// later that match accepts (nil accepts all), and the index after it.
func (s *EventStream) Wait(from int, sessionID, typ string, match func(Envelope) bool) (Envelope, int) {
	s.t.Helper()
	deadline := time.NewTimer(WaitTimeout)
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
			s.t.Fatalf("no %s event for session %s within %s; events from %d:\n%s", typ, sessionID, WaitTimeout, from, s.dump(from))
		}
	}
}

// Count is how many events of sessionID and type typ arrived from index from.
func (s *EventStream) Count(from int, sessionID, typ string) int {
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

// Len is how many events arrived so far.
func (s *EventStream) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}

func (s *EventStream) dump(from int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for i, ev := range s.events[min(from, len(s.events)):] {
		fmt.Fprintf(&b, "%d %s %s %s\n", from+i, ev.SessionID, ev.Type, ev.Data)
	}
	return b.String()
}

// ReasonIs matches session.status.disconnected events with that reason.
func ReasonIs(reason string) func(Envelope) bool {
	return func(ev Envelope) bool {
		var d struct {
			Reason string `json:"reason"`
		}
		return json.Unmarshal(ev.Data, &d) == nil && d.Reason == reason
	}
}

// Field reads a dotted path of string fields from the event's data
// ("message.content.text"); "" when absent or not a string.
func (e Envelope) Field(t testing.TB, path string) string {
	t.Helper()
	var v any
	e.Decode(t, &v)
	for _, key := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[key]
	}
	s, _ := v.(string)
	return s
}
