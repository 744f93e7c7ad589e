package session

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wagate/wagate/internal/store"
	"github.com/wagate/wagate/internal/testenv"
)

// gatedProvider's clients block in Connect until the gate opens, like a
// slow network, and count the connects in flight.
type gatedProvider struct {
	fakeProvider
	gate     chan struct{}
	inFlight atomic.Int64
}

func (p *gatedProvider) Open(ctx context.Context, ref Ref, sink EventSink) (Client, error) {
	c, err := p.fakeProvider.Open(ctx, ref, sink)
	return gatedClient{fakeClient: c.(*fakeClient), p: p}, err
}

type gatedClient struct {
	*fakeClient
	p *gatedProvider
}

func (c gatedClient) Connect(ctx context.Context) error {
	c.p.inFlight.Add(1)
	defer c.p.inFlight.Add(-1)
	select {
	case <-c.p.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return c.fakeClient.Connect(ctx)
}

// TestRestoreConnectsSessionsInParallel: a worker restoring its sessions
// connects several at once. One at a time, each paying a few network round
// trips, hundreds of sessions took minutes to come back, during which the
// worker renewed no lease.
func TestRestoreConnectsSessionsInParallel(t *testing.T) {
	t.Parallel()
	db := testenv.OpenDB(t, store.SQLite)
	st := NewStore(db)
	p := &gatedProvider{gate: make(chan struct{})}
	m, err := NewManager(ManagerConfig{Store: st, Providers: []Provider{p}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.shutdown)
	const sessions = 3
	for range sessions {
		createSession(t, st, "tenant", "")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.reconcileAll(context.Background())
	}()
	eventually(t, func() bool { return p.inFlight.Load() == sessions }, "every session connecting at once")
	close(p.gate)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("reconcileAll did not return")
	}
	if n := len(m.Running()); n != sessions {
		t.Fatalf("%d sessions run, want %d", n, sessions)
	}
}
