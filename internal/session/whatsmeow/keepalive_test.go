package whatsmeow

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types/events"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/session"
	"github.com/wagate/wagate/internal/store"
	"github.com/wagate/wagate/internal/testenv"
	"github.com/wagate/wagate/internal/wa"
)

// recordingSink remembers the calls a client makes.
type recordingSink struct {
	mu    sync.Mutex
	calls []string
}

func (s *recordingSink) add(call string) {
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.mu.Unlock()
}

func (s *recordingSink) QR(string, time.Time)   { s.add("QR") }
func (s *recordingSink) Connected(phone string) { s.add("Connected(" + phone + ")") }
func (s *recordingSink) Disconnected(r session.DisconnectReason, _ bool) {
	s.add("Disconnected(" + string(r) + ")")
}
func (s *recordingSink) Messages([]wa.Message, bool)        { s.add("Messages") }
func (s *recordingSink) Receipt(wa.Receipt)                 { s.add("Receipt") }
func (s *recordingSink) HistorySync([]wa.HistoryChat, bool) { s.add("HistorySync") }

// TestKeepAliveOfLoginSocketIsNotAStatus: whatsmeow pings on the socket
// that shows QR codes too. Under load a ping there can time out; that must
// not turn a session waiting for its scan into disconnected/keepalive_timeout,
// nor the following KeepAliveRestored into "connected" without a phone.
func TestKeepAliveOfLoginSocketIsNotAStatus(t *testing.T) {
	t.Parallel()
	db := testenv.OpenDB(t, store.SQLite)
	p, err := New(context.Background(), Config{}, db, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	sink := &recordingSink{}
	c, err := p.Open(context.Background(), session.Ref{TenantID: "t", SessionID: eventlog.NewID()}, sink)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl := c.(*client)
	cl.handle(&events.KeepAliveTimeout{ErrorCount: 1, LastSuccess: time.Now()})
	cl.handle(&events.KeepAliveRestored{})
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.calls) != 0 {
		t.Fatalf("keep-alive events of an unpaired login socket reached the sink: %v", sink.calls)
	}
}
