package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/coder/websocket"
)

// SessionState is what the WebSocket told about one session lately.
type SessionState struct {
	QR     string // the latest code, from session.qr.updated
	Status string // connected or disconnected; empty before either
	Reason string // the last disconnection's reason
	Phone  string // the phone of the last connection
}

// StatusWatcher follows the session events of one user over the WebSocket
// and keeps only each session's latest state, so that tests with hundreds
// of sessions wait on events rather than poll the API, and hold no memory
// for sessions they forgot.
type StatusWatcher struct {
	mu      sync.Mutex
	state   map[string]SessionState
	changed chan struct{}
	err     error // why the connection ended, once it did
	cancel  context.CancelFunc
	done    chan struct{}
}

// WatchSessions opens the WebSocket as c's user and follows its sessions
// until Close.
func WatchSessions(ctx context.Context, c *Client) (*StatusWatcher, error) {
	ctx, cancel := context.WithCancel(ctx)
	q := url.Values{"access_token": {c.Token}, "types": {"session.qr.updated,session.status.*"}}
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(c.Base, "http")+"/ws/sessions?"+q.Encode(), nil)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("open /ws/sessions: %w", err)
	}
	conn.SetReadLimit(1 << 20)
	w := &StatusWatcher{state: map[string]SessionState{}, changed: make(chan struct{}), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer conn.CloseNow()
		for {
			_, data, err := conn.Read(ctx)
			if err != nil {
				w.fail(fmt.Errorf("WebSocket closed: %w", err))
				return
			}
			var ev struct {
				Type      string `json:"type"`
				SessionID string `json:"sessionId"`
				Data      struct {
					QR     string `json:"qr"`
					Reason string `json:"reason"`
					Phone  string `json:"phone"`
				} `json:"data"`
			}
			if err := json.Unmarshal(data, &ev); err != nil {
				w.fail(fmt.Errorf("undecodable event %q: %w", data, err))
				return
			}
			w.update(ev.SessionID, func(s *SessionState) {
				switch ev.Type {
				case "session.qr.updated":
					s.QR = ev.Data.QR
				case "session.status.connected":
					s.Status, s.Reason, s.Phone = "connected", "", ev.Data.Phone
				case "session.status.disconnected":
					s.Status, s.Reason = "disconnected", ev.Data.Reason
				}
			})
		}
	}()
	return w, nil
}

func (w *StatusWatcher) update(id string, fn func(*SessionState)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.state[id]
	fn(&s)
	w.state[id] = s
	close(w.changed)
	w.changed = make(chan struct{})
}

func (w *StatusWatcher) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
	close(w.changed)
	w.changed = make(chan struct{})
}

// Wait blocks until the session's state satisfies cond and returns it.
func (w *StatusWatcher) Wait(ctx context.Context, id string, cond func(SessionState) bool) (SessionState, error) {
	for {
		w.mu.Lock()
		s, changed, err := w.state[id], w.changed, w.err
		w.mu.Unlock()
		if cond(s) {
			return s, nil
		}
		if err != nil {
			return s, err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return s, errors.Join(ctx.Err(), context.Cause(ctx))
		}
	}
}

// Forget drops what the watcher knows about a session.
func (w *StatusWatcher) Forget(id string) {
	w.mu.Lock()
	delete(w.state, id)
	w.mu.Unlock()
}

// Close ends the connection.
func (w *StatusWatcher) Close() {
	w.cancel()
	<-w.done
}
