package wafake_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	waLog "go.mau.fi/whatsmeow/util/log"
	_ "modernc.org/sqlite"

	"github.com/wagate/wagate/internal/wafake"
)

// waitTimeout bounds every wait. It is generous because CI machines can be heavily loaded; a
// passing run never waits for it.
const waitTimeout = 30 * time.Second

func TestMain(m *testing.M) {
	// whatsmeow's keep-alive knobs are package variables: set them before any client starts so
	// that pings are exercised within a test's lifetime.
	whatsmeow.KeepAliveIntervalMin = 400 * time.Millisecond
	whatsmeow.KeepAliveIntervalMax = 800 * time.Millisecond
	os.Exit(m.Run())
}

func testLogger(module string) waLog.Logger {
	if os.Getenv("WAFAKE_DEBUG") != "" {
		return waLog.Stdout(module, "DEBUG", true)
	}
	return nil
}

// newNetwork starts a fake network that fails the test on anything it could not handle.
func newNetwork(t testing.TB, cfg wafake.Config) *wafake.Network {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger("Fake")
	}
	n, err := wafake.Start(cfg)
	if err != nil {
		t.Fatalf("start fake network: %v", err)
	}
	t.Cleanup(func() {
		n.Close()
		n.RequireNoUnhandled(t)
	})
	return n
}

// recorder keeps every event a client emits; waits consume the first matching event.
type recorder struct {
	mu      sync.Mutex
	events  []any
	changed chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{})} }

func (r *recorder) add(evt any) {
	r.mu.Lock()
	r.events = append(r.events, evt)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

func (r *recorder) take(match func(any) bool) (any, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, evt := range r.events {
		if match(evt) {
			r.events = append(r.events[:i:i], r.events[i+1:]...)
			return evt, nil
		}
	}
	return nil, r.changed
}

func (r *recorder) count(match func(any) bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, evt := range r.events {
		if match(evt) {
			n++
		}
	}
	return n
}

// waitFor waits for (and consumes) the first event of type T accepted by match.
func waitFor[T any](r *recorder, match func(T) bool) (T, error) {
	deadline := time.After(waitTimeout)
	accept := func(evt any) bool {
		typed, ok := evt.(T)
		return ok && (match == nil || match(typed))
	}
	for {
		evt, changed := r.take(accept)
		if evt != nil {
			return evt.(T), nil
		}
		select {
		case <-changed:
		case <-deadline:
			var zero T
			return zero, fmt.Errorf("timed out waiting for %T", zero)
		}
	}
}

// waitEvent is waitFor that fails the test on timeout.
func waitEvent[T any](t testing.TB, r *recorder, match func(T) bool) T {
	t.Helper()
	evt, err := waitFor(r, match)
	if err != nil {
		t.Fatal(err)
	}
	return evt
}

func isType[T any](evt any) bool { _, ok := evt.(T); return ok }

// testClient is a bare whatsmeow client with a SQLite store in a temp dir.
type testClient struct {
	*whatsmeow.Client
	container *sqlstore.Container
	events    *recorder
	jid       types.JID // set by pair and reopenClient
}

func openContainer(t testing.TB, dir string) *sqlstore.Container {
	t.Helper()
	dsn := "file:" + filepath.Join(dir, "whatsmeow.db") + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)" +
		// Test stores need no durability; without this every prekey insert waits for an fsync.
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)"
	container, err := sqlstore.New(context.Background(), "sqlite", dsn, testLogger("DB"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = container.Close() })
	return container
}

// newClient creates an unpaired client configured for the fake network.
func newClient(t testing.TB, n *wafake.Network) *testClient {
	t.Helper()
	container := openContainer(t, t.TempDir())
	return clientFor(t, n, container, container.NewDevice())
}

// reopenClient creates a second client from the device stored by tc, as after a process restart.
func reopenClient(t testing.TB, n *wafake.Network, tc *testClient) *testClient {
	t.Helper()
	dev, err := tc.container.GetDevice(context.Background(), tc.Store.GetJID())
	if err != nil || dev == nil {
		t.Fatalf("load stored device: %v (device %v)", err, dev)
	}
	reopened := clientFor(t, n, tc.container, dev)
	reopened.jid = tc.jid
	return reopened
}

func clientFor(t testing.TB, n *wafake.Network, container *sqlstore.Container, dev *store.Device) *testClient {
	t.Helper()
	cli := whatsmeow.NewClient(dev, testLogger("Client"))
	n.Configure(cli)
	tc := &testClient{Client: cli, container: container, events: newRecorder()}
	cli.AddEventHandler(tc.events.add)
	t.Cleanup(func() {
		// Let background acks finish first: a Disconnect racing them trips the race detector
		// inside whatsmeow.
		if !tc.jid.IsEmpty() {
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			if err := n.WaitAcked(ctx, tc.jid); err != nil {
				t.Errorf("client %s did not acknowledge everything: %v", tc.jid, err)
			}
		}
		cli.Disconnect()
	})
	return tc
}

// pair connects an unpaired client, lets phone scan its first QR code and waits for login.
func pair(t testing.TB, tc *testClient, phone *wafake.Phone) types.JID {
	t.Helper()
	jid, err := tryPair(tc, phone)
	if err != nil {
		t.Fatal(err)
	}
	return jid
}

// tryPair is pair for use outside the test goroutine.
func tryPair(tc *testClient, phone *wafake.Phone) (types.JID, error) {
	if err := tc.Connect(); err != nil {
		return types.EmptyJID, fmt.Errorf("connect: %w", err)
	}
	qr, err := waitFor[*events.QR](tc.events, nil)
	if err != nil {
		return types.EmptyJID, err
	}
	if len(qr.Codes) == 0 {
		return types.EmptyJID, errors.New("QR event without codes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	jid, err := phone.ScanQR(ctx, qr.Codes[0])
	if err != nil {
		return types.EmptyJID, fmt.Errorf("scan QR: %w", err)
	}
	success, err := waitFor[*events.PairSuccess](tc.events, nil)
	if err != nil {
		return types.EmptyJID, err
	}
	if success.ID != jid {
		return types.EmptyJID, fmt.Errorf("PairSuccess for %s, phone linked %s", success.ID, jid)
	}
	if _, err = waitFor[*events.Connected](tc.events, nil); err != nil {
		return types.EmptyJID, err
	}
	tc.jid = jid
	return jid, nil
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}
