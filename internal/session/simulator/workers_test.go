package simulator_test

import (
	"context"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/eventlog/eventlogtest"
	"github.com/wagate/wagate/internal/session"
	"github.com/wagate/wagate/internal/session/simulator"
	"github.com/wagate/wagate/internal/testenv"
)

// TestTwoWorkersNeverRunTheSameSession runs two workers over one database:
// each session runs on exactly one of them, the other refuses it while the
// owner is alive, and takes it over (reconnecting from the stored pairing)
// once the owner is gone.
func TestTwoWorkersNeverRunTheSameSession(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, d, slowQR, true)
			a := e.startWorker()
			b := e.startWorker()
			id, seq := e.linked("tenant-w", "+15550007777")

			runs := func(w *worker) bool { return slices.Contains(w.mgr.Running(), id) }
			// Several reconcile rounds: the non-owner keeps refusing.
			deadline := time.Now().Add(time.Second)
			for time.Now().Before(deadline) {
				if runs(a) == runs(b) {
					t.Fatalf("session runs on a=%v b=%v; exactly one must run it", runs(a), runs(b))
				}
				time.Sleep(50 * time.Millisecond)
			}
			owner, other := a, b
			if runs(b) {
				owner, other = b, a
			}

			// A command the non-owner receives runs on the owner.
			var ranOn atomic.Value
			route := func(w *worker, name string) eventlog.Subscription {
				return w.mgr.Routed(eventlog.Subscription{Name: "test.routed", Stream: eventlog.SessionCommands,
					Handler: func(context.Context, eventlog.Envelope) error { ranOn.Store(name); return nil }})
			}
			route(owner, "owner")
			viaOther := route(other, "other")
			env := eventlog.MustEnvelope(context.Background(), "tenant-w", id, simulator.Inbound{})
			if err := viaOther.Handler(context.Background(), env); err != nil {
				t.Fatal(err)
			}
			eventlogtest.Eventually(t, waitTimeout, func() bool { return ranOn.Load() != nil }, "forwarded command runs")
			if ranOn.Load() != "owner" {
				t.Fatalf("forwarded command ran on the %v", ranOn.Load())
			}
			owner.stop()
			down := e.waitEvent(id, seq, session.EventDisconnected, reasonIs(session.ReasonWorkerStopped))
			up := e.waitEvent(id, down.Seq, session.EventConnected, nil)
			if up.Data["phone"] != "+15550007777" || !runs(other) {
				t.Fatalf("the other worker must take the session over: %v runs=%v", up.Data, runs(other))
			}
			if n := e.countEvents(id, down.Seq, session.EventQRUpdated); n != 0 {
				t.Fatalf("take-over reconnects from the stored pairing, without a QR (saw %d)", n)
			}
			eventlogtest.Eventually(t, waitTimeout, func() bool {
				return e.getSession("tenant-w", id).Status == session.StatusConnected
			}, "connected on the new owner")
			e.mustCall("tenant-w", http.MethodPost, "/sessions/"+id+"/stop", nil, nil, http.StatusAccepted)
			e.waitEvent(id, up.Seq, session.EventDisconnected, reasonIs(session.ReasonStopped))
		})
	}
}
