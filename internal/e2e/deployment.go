// Package e2e is the harness of wagate's end-to-end tests against the real
// WhatsApp client: whole wagate processes (app.NewWithOptions, role serve)
// whose whatsmeow sessions are pointed at wafake, a fake WhatsApp server on
// loopback, driven only through the public HTTP API and the WebSocket, in
// both ways wagate runs (SQLite with the embedded event log; PostgreSQL
// with Redis Streams), with a real SMTP server for the sign-up mail.
//
// The tests live beside it (whatsmeow_test.go) and in internal/e2e/leak;
// docs/whatsmeow-testing.md explains what they cover and how to debug them.
package e2e

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	wm "go.mau.fi/whatsmeow"

	"github.com/wagate/wagate/internal/app"
	"github.com/wagate/wagate/internal/config"
	"github.com/wagate/wagate/internal/mail/mailtest"
	"github.com/wagate/wagate/internal/store"
	"github.com/wagate/wagate/internal/testenv"
	"github.com/wagate/wagate/internal/wafake"
)

// WaitTimeout bounds every wait. It is generous because the machine running
// the suite may be loaded; a passing run never waits for it.
const WaitTimeout = 30 * time.Second

// Mode is how a deployment stores its data and carries its events.
type Mode struct {
	// DB is the database: SQLite or PostgreSQL.
	DB store.Dialect
	// Redis selects Redis Streams for events (distributed mode); without
	// it, the embedded event log reads the outbox table.
	Redis bool
}

// The modes wagate is documented to run in, plus PostgreSQL without Redis.
var (
	Embedded         = Mode{DB: store.SQLite}
	Distributed      = Mode{DB: store.Postgres, Redis: true}
	PostgresEmbedded = Mode{DB: store.Postgres}
)

// Modes are the two ways wagate runs; end-to-end tests run in each.
var Modes = []Mode{Embedded, Distributed}

// String names the mode for subtests.
func (m Mode) String() string {
	switch {
	case m.Redis:
		return "distributed"
	case m.DB == store.Postgres:
		return "postgres-embedded"
	}
	return "embedded"
}

// Deployment is one wagate installation under test: its configuration (one
// database, in distributed mode one Redis prefix), a real SMTP server and
// the fake WhatsApp network its session workers reach. Processes come and
// go (Start, Process.Shutdown); the data stays.
type Deployment struct {
	t   *testing.T
	cfg config.Config
	// Mail receives every mail wagate sends.
	Mail      *mailtest.Server
	configure func(*wm.Client)
}

// NewDeployment prepares a deployment in mode whose whatsmeow clients are
// set up by configure (typically wafake.Network.Configure).
func NewDeployment(t *testing.T, mode Mode, configure func(*wm.Client)) *Deployment {
	t.Helper()
	mail := mailtest.NewServer(t, mailtest.Options{})
	vars := map[string]string{
		"WAGATE_DATABASE_URL":     testenv.DatabaseURL(t, mode.DB),
		"WAGATE_SMTP_URL":         mail.URL(),
		"WAGATE_PUBLIC_URL":       "http://wagate.test",
		"WAGATE_SHUTDOWN_TIMEOUT": "20s",
	}
	if mode.Redis {
		_, prefix := testenv.Redis(t)
		vars["WAGATE_REDIS_URL"] = testenv.RedisURL()
		vars["WAGATE_REDIS_PREFIX"] = prefix
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return &Deployment{t: t, cfg: cfg, Mail: mail, configure: configure}
}

// Process is one running wagate process (role serve).
type Process struct {
	// App is the process's wiring, for what the API does not show (the
	// session worker's running set, the database).
	App *app.App
	// Base is the API's URL, http://host:port.
	Base string
	stop context.CancelFunc
	done chan error
}

// Start runs a new wagate process on a free port and waits until it answers
// /healthz. It is stopped at the end of the test unless stopped before.
func (d *Deployment) Start() *Process {
	d.t.Helper()
	cfg := d.cfg
	cfg.HTTPAddr = FreeAddr(d.t)
	a, err := app.NewWithOptions(context.Background(), app.RoleServe, cfg, Logger(d.t), app.Options{WhatsmeowClient: d.configure})
	if err != nil {
		d.t.Fatalf("app.NewWithOptions: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Process{App: a, Base: "http://" + cfg.HTTPAddr, stop: cancel, done: make(chan error, 1)}
	go func() { p.done <- a.Run(ctx) }()
	d.t.Cleanup(func() { p.Shutdown(d.t) })
	deadline := time.Now().Add(WaitTimeout)
	for {
		res, err := http.Get(p.Base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case err := <-p.done:
			p.done <- err
			d.t.Fatalf("wagate stopped before serving: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			d.t.Fatal("wagate did not answer /healthz")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Shutdown stops the process gracefully (as on SIGTERM) and waits for Run
// to return. Stopping twice is harmless.
func (p *Process) Shutdown(t testing.TB) {
	t.Helper()
	p.stop()
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Errorf("wagate Run: %v", err)
		}
	case <-time.After(WaitTimeout):
		t.Fatal("wagate did not stop")
	}
}

// FreeAddr returns a loopback address nobody listens on.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Logger discards wagate's logs unless WAGATE_E2E_DEBUG is set.
func Logger(t testing.TB) *slog.Logger {
	if os.Getenv("WAGATE_E2E_DEBUG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
}

// StartFake starts a fake WhatsApp network that fails the test on any node
// or IQ it could not answer. Start it before the wagate processes that use
// it: cleanups run last-in first-out, so the processes disconnect their
// clients before the network closes.
func StartFake(t testing.TB, cfg wafake.Config) *wafake.Network {
	t.Helper()
	n, err := wafake.Start(cfg)
	if err != nil {
		t.Fatalf("start fake WhatsApp network: %v", err)
	}
	t.Cleanup(func() {
		n.Close()
		n.RequireNoUnhandled(t)
	})
	return n
}
