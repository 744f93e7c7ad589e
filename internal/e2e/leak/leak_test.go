// Package leak_test checks that wagate's session worker leaks nothing over
// the lifecycle of many real whatsmeow sessions. It is a package of its own
// so that its clients keep whatsmeow's production keep-alive intervals
// (internal/e2e lowers them to exercise pings).
package leak_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	wm "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"

	"github.com/wagate/wagate/internal/e2e"
	"github.com/wagate/wagate/internal/wafake"
)

const (
	// goroutineSlack is how many goroutines above the baseline are allowed
	// after a round: idle HTTP keep-alive connections and timers that are
	// about to fire, not anything that grows with the number of sessions.
	goroutineSlack = 10
	// heapSlack is the allowed growth of the live heap over the baseline.
	heapSlack = 0.10
	// linkParallelism is how many sessions are linked at once.
	linkParallelism = 8
)

// TestNoLeaksAcrossSessionLifecycles links and connects many real whatsmeow
// sessions through the API, stops and deletes them, twice over, and checks
// that wagate's goroutines return to the baseline and its live heap stays
// within 10 % of it. Gateways commonly leak exactly here: a client, a
// handler, a timer or a map entry left behind for every session that ever
// ran.
//
// The baseline is taken after a warm-up round of the same size: what is
// bounded but only grows to its size under load is not a leak — connection
// pools, and the goroutine descriptors the Go runtime keeps for reuse
// (it never frees them, so the peak number of goroutines stays in the
// heap). Each round runs on a fresh fake network that is closed before
// measuring, so the fake's own state (accounts, devices, Signal sessions)
// is not counted; the test keeps nothing per session between rounds.
//
// It runs in PostgreSQL mode with the embedded event log: SQLite's pure-Go
// driver is very slow under the race detector, and Redis Streams add
// nothing to what is measured here (the worker's per-session state).
//
// Not parallel: goroutines and heap are counted for the whole process.
func TestNoLeaksAcrossSessionLifecycles(t *testing.T) {
	sessions := 200
	if testing.Short() {
		sessions = 20
	}
	var current atomic.Pointer[wafake.Network]
	d := e2e.NewDeployment(t, e2e.PostgresEmbedded, func(c *wm.Client) { current.Load().Configure(c) })
	proc := d.Start()
	api := e2e.SignUp(t, d, proc.Base, "leaks@example.com")

	round := func(name string) {
		t.Helper()
		n, err := wafake.Start(wafake.Config{ShortPreKeyUpload: true})
		if err != nil {
			t.Fatal(err)
		}
		current.Store(n)
		start := time.Now()
		if err := lifecycle(api, proc, n, sessions); err != nil {
			// Stop wagate's clients before the network they talk to.
			proc.Shutdown(t)
			n.Close()
			t.Fatalf("round %s: %v", name, err)
		}
		n.Close()
		current.Store(nil)
		n.RequireNoUnhandled(t)
		api.HTTP.CloseIdleConnections()
		t.Logf("round %s: %d sessions linked, connected, stopped and deleted in %s", name, sessions, time.Since(start).Round(time.Millisecond))
	}

	round("warm-up")
	baseGoroutines, baseHeap := settle()
	t.Logf("baseline: %d goroutines, %.2f MiB live heap", baseGoroutines, mib(baseHeap))

	for _, name := range []string{"1", "2"} {
		round(name)
		goroutines, heap := settle()
		deadline := time.Now().Add(e2e.WaitTimeout)
		for (goroutines > baseGoroutines+goroutineSlack || float64(heap) > float64(baseHeap)*(1+heapSlack)) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			goroutines, heap = settle()
		}
		t.Logf("after round %s: %d goroutines, %.2f MiB live heap", name, goroutines, mib(heap))
		if goroutines > baseGoroutines+goroutineSlack {
			buf := make([]byte, 1<<20)
			t.Fatalf("round %s left %d goroutines over the baseline of %d:\n%s",
				name, goroutines-baseGoroutines, baseGoroutines, buf[:runtime.Stack(buf, true)])
		}
		if float64(heap) > float64(baseHeap)*(1+heapSlack) {
			t.Fatalf("round %s: live heap %.2f MiB, more than %.0f%% over the baseline of %.2f MiB",
				name, mib(heap), heapSlack*100, mib(baseHeap))
		}
	}
}

// lifecycle creates count whatsmeow sessions, links each to its own phone
// and waits until all are connected at once; then stops and deletes every
// one and waits until the worker has purged them.
func lifecycle(api *e2e.Client, proc *e2e.Process, n *wafake.Network, count int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	watch, err := e2e.WatchSessions(ctx, api)
	if err != nil {
		return err
	}
	defer watch.Close()
	ids := make([]string, count)
	devices := make([]types.JID, count)
	err = parallel(ctx, count, func(ctx context.Context, i int) error {
		var err error
		ids[i], devices[i], err = linkSession(ctx, api, watch, n, fmt.Sprintf("+1555%07d", i))
		return err
	})
	if err != nil {
		return fmt.Errorf("link: %w", err)
	}
	if running := len(proc.App.SessionManager.Running()); running != count {
		return fmt.Errorf("%d sessions run on the worker, want %d", running, count)
	}
	for _, dev := range devices {
		if !n.Connected(dev) {
			return fmt.Errorf("device %s is not logged in on the fake network", dev)
		}
	}
	err = parallel(ctx, count, func(ctx context.Context, i int) error {
		// whatsmeow races its own background writes when disconnected
		// mid-write (see wafake's package doc): let them finish first.
		if err := n.WaitAcked(ctx, devices[i]); err != nil {
			return err
		}
		path := "/sessions/" + ids[i]
		if err := api.Expect(http.StatusAccepted, http.MethodPost, path+"/stop", nil, nil); err != nil {
			return err
		}
		if _, err := watch.Wait(ctx, ids[i], func(s e2e.SessionState) bool {
			return s.Status == "disconnected" && s.Reason == "stopped"
		}); err != nil {
			return fmt.Errorf("session %s did not stop: %w", ids[i], err)
		}
		if err := api.Expect(http.StatusNoContent, http.MethodDelete, path, nil, nil); err != nil {
			return err
		}
		watch.Forget(ids[i])
		return nil
	})
	if err != nil {
		return fmt.Errorf("stop and delete: %w", err)
	}
	return poll(ctx, func() (bool, error) {
		var left int
		err := proc.App.DB.SQL.QueryRowContext(ctx, `SELECT
			(SELECT COUNT(*) FROM sessions) + (SELECT COUNT(*) FROM session_devices) +
			(SELECT COUNT(*) FROM whatsmeow_device)`).Scan(&left)
		return err == nil && left == 0 && len(proc.App.SessionManager.Running()) == 0, err
	})
}

// linkSession creates a whatsmeow session, lets a new phone scan its QR
// and waits until it is connected with that phone.
func linkSession(ctx context.Context, api *e2e.Client, watch *e2e.StatusWatcher, n *wafake.Network, number string) (string, types.JID, error) {
	var created struct {
		SessionID string `json:"sessionId"`
	}
	if err := api.Expect(http.StatusCreated, http.MethodPost, "/sessions", map[string]string{"provider": "whatsmeow"}, &created); err != nil {
		return "", types.EmptyJID, err
	}
	id := created.SessionID
	s, err := watch.Wait(ctx, id, func(s e2e.SessionState) bool { return s.QR != "" })
	if err != nil {
		return "", types.EmptyJID, fmt.Errorf("no QR for session %s (state %+v): %w", id, s, err)
	}
	dev, err := n.NewPhone(number).ScanQR(ctx, s.QR)
	if err != nil {
		return "", types.EmptyJID, err
	}
	s, err = watch.Wait(ctx, id, func(s e2e.SessionState) bool { return s.Status == "connected" })
	if err != nil || s.Phone != number {
		return "", types.EmptyJID, fmt.Errorf("session %s did not connect with %s (state %+v): %w", id, number, s, err)
	}
	// "connected" can precede the end of the login on the server.
	err = poll(ctx, func() (bool, error) { return n.Connected(dev), nil })
	return id, dev, err
}

// parallel runs fn for 0..count-1, linkParallelism at a time, and returns
// the first error (the others are cancelled).
func parallel(ctx context.Context, count int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, linkParallelism)
	var wg sync.WaitGroup
	for i := range count {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(ctx, i); err != nil {
				cancel(err)
			}
		}()
	}
	wg.Wait()
	return context.Cause(ctx)
}

// poll calls cond every 20ms until it reports done, fails, or ctx ends.
func poll(ctx context.Context, cond func() (bool, error)) error {
	for {
		done, err := cond()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), context.Cause(ctx))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// settle collects garbage and returns the goroutine count and the live heap.
func settle() (goroutines int, heap uint64) {
	var ms runtime.MemStats
	for range 2 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return runtime.NumGoroutine(), ms.HeapAlloc
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
