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

// waitTimeout bounds every wait. It is generous because the machine running
// the suite may be loaded; a passing run never waits for it.
const waitTimeout = 30 * time.Second

// deployment is one wagate installation under test: its configuration (one
// database, in distributed mode one Redis prefix), a real SMTP server and
// the fake WhatsApp network its session workers reach. Processes come and
// go (start, stop); the data stays.
type deployment struct {
	t    *testing.T
	mode store.Dialect
	cfg  config.Config
	mail *mailtest.Server
	// configure points a whatsmeow client at the current fake network.
	configure func(*wm.Client)
}

// newDeployment prepares a deployment in mode: SQLite with the embedded
// event log, or PostgreSQL with Redis Streams (the two ways wagate runs).
func newDeployment(t *testing.T, mode store.Dialect, configure func(*wm.Client)) *deployment {
	t.Helper()
	mail := mailtest.NewServer(t, mailtest.Options{})
	vars := map[string]string{
		"WAGATE_DATABASE_URL":     testenv.DatabaseURL(t, mode),
		"WAGATE_SMTP_URL":         mail.URL(),
		"WAGATE_PUBLIC_URL":       "http://wagate.test",
		"WAGATE_SHUTDOWN_TIMEOUT": "20s",
		"WAGATE_LOG_LEVEL":        "debug",
	}
	if mode == store.Postgres {
		_, prefix := testenv.Redis(t)
		vars["WAGATE_REDIS_URL"] = testenv.RedisURL()
		vars["WAGATE_REDIS_PREFIX"] = prefix
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return &deployment{t: t, mode: mode, cfg: cfg, mail: mail, configure: configure}
}

// process is one running wagate process (role serve).
type process struct {
	app  *app.App
	base string // http://host:port
	stop context.CancelFunc
	done chan error
}

// start runs a new wagate process on a free port and waits until it
// answers /healthz. It is stopped at the end of the test unless stopped
// before.
func (d *deployment) start() *process {
	d.t.Helper()
	cfg := d.cfg
	cfg.HTTPAddr = freeAddr(d.t)
	a, err := app.NewWithOptions(context.Background(), app.RoleServe, cfg, testLogger(d.t), app.Options{WhatsmeowClient: d.configure})
	if err != nil {
		d.t.Fatalf("app.NewWithOptions: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &process{app: a, base: "http://" + cfg.HTTPAddr, stop: cancel, done: make(chan error, 1)}
	go func() { p.done <- a.Run(ctx) }()
	d.t.Cleanup(func() { p.shutdown(d.t) })
	deadline := time.Now().Add(waitTimeout)
	for {
		res, err := http.Get(p.base + "/healthz")
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

// shutdown stops the process gracefully (as on SIGTERM) and waits for Run
// to return. Stopping twice is harmless.
func (p *process) shutdown(t testing.TB) {
	t.Helper()
	p.stop()
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Errorf("wagate Run: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("wagate did not stop")
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// testLogger discards wagate's logs unless WAGATE_E2E_DEBUG is set.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("WAGATE_E2E_DEBUG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
}

// fakeNetwork starts a fake WhatsApp network that fails the test on any
// node or IQ it could not answer.
func fakeNetwork(t testing.TB, cfg wafake.Config) *wafake.Network {
	t.Helper()
	n, err := wafake.Start(cfg)
	if err != nil {
		t.Fatalf("start fake WhatsApp network: %v", err)
	}
	// Cleanups run last-in first-out: this one runs after the wagate
	// processes (started later) have disconnected their clients.
	t.Cleanup(func() {
		n.Close()
		n.RequireNoUnhandled(t)
	})
	return n
}
