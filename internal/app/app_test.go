package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/internal/config"
	"github.com/wagate/wagate/internal/testenv"
)

// testConfig loads a configuration from vars plus a free loopback port.
func testConfig(t *testing.T, vars map[string]string) config.Config {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	all := map[string]string{"WAGATE_HTTP_ADDR": addr, "WAGATE_SHUTDOWN_TIMEOUT": "10s"}
	for k, v := range vars {
		all[k] = v
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := all[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func embeddedConfig(t *testing.T) config.Config {
	return testConfig(t, map[string]string{"WAGATE_DATABASE_URL": testenv.SQLitePath(t)})
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// running is an App whose Run is in progress.
type running struct {
	app  *App
	base string
	stop context.CancelFunc
	done chan error
}

// startApp builds the app for role, lets setup add to it, runs it and waits
// until it answers /healthz.
func startApp(t *testing.T, role Role, cfg config.Config, setup func(a *App)) *running {
	t.Helper()
	a, err := New(context.Background(), role, cfg, quietLogger())
	if err != nil {
		t.Fatalf("New(%s): %v", role, err)
	}
	if setup != nil {
		setup(a)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{app: a, base: "http://" + cfg.HTTPAddr, stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if res, err := http.Get(r.base + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return r
			}
		}
		select {
		case err := <-r.done:
			r.done <- err
			t.Fatalf("Run returned before serving: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("app did not answer /healthz")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// shutdown cancels Run's context and returns Run's error.
func (r *running) shutdown(t *testing.T) error {
	t.Helper()
	r.stop()
	select {
	case err := <-r.done:
		r.done <- err // let the cleanup see it too
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
		return nil
	}
}

func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestServeEmbeddedMigratesServesAndStops(t *testing.T) {
	t.Parallel()
	r := startApp(t, RoleServe, embeddedConfig(t), nil)
	if r.app.Redis != nil || r.app.mode() != "embedded" {
		t.Errorf("embedded mode expected, got redis=%v mode=%s", r.app.Redis, r.app.mode())
	}
	var n int
	if err := r.app.DB.SQL.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n == 0 {
		t.Errorf("serve did not migrate: %d rows, %v", n, err)
	}
	status, body := getBody(t, r.base+"/readyz")
	if status != http.StatusOK || !strings.Contains(body, `"database":"ok"`) || strings.Contains(body, "redis") {
		t.Errorf("/readyz in embedded mode: %d %s", status, body)
	}
	if status, _ := getBody(t, r.base+"/openapi.json"); status != http.StatusOK {
		t.Errorf("serve runs the API: /openapi.json %d", status)
	}

	if err := r.shutdown(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := r.app.DB.Ping(context.Background()); err == nil {
		t.Error("the database is still open after Run returned")
	}
	if _, err := http.Get(r.base + "/healthz"); err == nil {
		t.Error("still serving after Run returned")
	}
}

func TestDistributedWiresBothReadinessChecks(t *testing.T) {
	t.Parallel()
	_, prefix := testenv.Redis(t)
	cfg := testConfig(t, map[string]string{
		"WAGATE_DATABASE_URL": testenv.PostgresURL(t),
		"WAGATE_REDIS_URL":    testenv.RedisURL(),
		"WAGATE_REDIS_PREFIX": prefix,
	})
	r := startApp(t, RoleServe, cfg, nil)
	if r.app.Redis == nil || r.app.mode() != "distributed" {
		t.Fatalf("distributed mode expected")
	}
	status, body := getBody(t, r.base+"/readyz")
	if status != http.StatusOK || !strings.Contains(body, `"database":"ok"`) || !strings.Contains(body, `"redis":"ok"`) {
		t.Errorf("/readyz: %d %s", status, body)
	}
	if err := r.shutdown(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestOnlyServeMigratesAutomatically: in distributed deployments the
// schema is changed by `wagate migrate`, not by whichever role starts first.
func TestOnlyServeMigratesAutomatically(t *testing.T) {
	t.Parallel()
	url := testenv.PostgresURL(t)
	if err := Migrate(context.Background(), testConfig(t, map[string]string{"WAGATE_DATABASE_URL": url}), quietLogger()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	// Against a migrated database, the api role starts without migrating.
	a, err := New(context.Background(), RoleAPI, testConfig(t, map[string]string{"WAGATE_DATABASE_URL": url}), quietLogger())
	if err != nil {
		t.Fatalf("New(api): %v", err)
	}
	defer a.close()
	var n int
	if err := a.DB.SQL.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n == 0 {
		t.Errorf("Migrate left %d versions (%v)", n, err)
	}
}

// TestShutdownFinishesInFlightRequests cancels Run while a slow request is
// being served: the request still gets its 200, then Run returns nil.
func TestShutdownFinishesInFlightRequests(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	cfg := embeddedConfig(t)
	// The api role does not migrate, and its auth routes need the schema
	// (the JWT signing key is kept in the settings table).
	if err := Migrate(context.Background(), cfg, quietLogger()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	r := startApp(t, RoleAPI, cfg, func(a *App) {
		a.HTTP.Mux.HandleFunc("GET /test/slow", func(w http.ResponseWriter, _ *http.Request) {
			close(entered)
			<-release
			_, _ = io.WriteString(w, "done")
		})
	})
	type result struct {
		status int
		body   string
		err    error
	}
	got := make(chan result, 1)
	go func() {
		res, err := http.Get(r.base + "/test/slow")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		got <- result{res.StatusCode, string(b), err}
	}()
	<-entered
	runErr := make(chan error, 1)
	go func() { runErr <- r.shutdown(t) }()

	// Shutdown has begun when new connections are refused; Run must still
	// be waiting for the slow request.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", r.app.Config.HTTPAddr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener stayed open after cancel")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-runErr:
		t.Fatalf("Run returned (%v) before the in-flight request finished", err)
	default:
	}
	close(release)
	res := <-got
	if res.err != nil || res.status != http.StatusOK || res.body != "done" {
		t.Errorf("in-flight request: %d %q %v", res.status, res.body, res.err)
	}
	if err := <-runErr; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestAFailingLoopStopsRunWithItsError(t *testing.T) {
	t.Parallel()
	boom := errors.New("lost the lease store")
	a, err := New(context.Background(), RoleSessionWorker, embeddedConfig(t), quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	a.addLoop("test-loop", func(ctx context.Context) error { return boom })
	done := make(chan error, 1)
	go func() { done <- a.Run(context.Background()) }()
	select {
	case err := <-done:
		if !errors.Is(err, boom) || !strings.Contains(err.Error(), "test-loop") {
			t.Errorf("Run: %v, want the loop's error naming the loop", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run kept going after a loop failed")
	}
	if err := a.DB.Ping(context.Background()); err == nil {
		t.Error("the database is still open after Run failed")
	}
}

func TestShutdownStopsLoopsAndHonoursTheTimeout(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t)
	cfg.ShutdownTimeout = 200 * time.Millisecond
	stopped := make(chan struct{})
	r := startApp(t, RoleEventConsumer, cfg, func(a *App) {
		a.addLoop("polite", func(ctx context.Context) error { <-ctx.Done(); close(stopped); return ctx.Err() })
		a.addLoop("stubborn", func(ctx context.Context) error { select {} })
	})
	if err := r.shutdown(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	select {
	case <-stopped:
	default:
		t.Error("a loop was not told to stop")
	}
}

func TestNewFailsCleanlyWhenTheDatabaseIsUnreachable(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, map[string]string{
		"WAGATE_DATABASE_URL": "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2",
	})
	if _, err := New(context.Background(), RoleAPI, cfg, quietLogger()); err == nil {
		t.Fatal("New succeeded without a database")
	}
	// Nothing listens: New starts nothing before Run.
	if c, err := net.DialTimeout("tcp", cfg.HTTPAddr, time.Second); err == nil {
		c.Close()
		t.Error("New left a listener behind")
	}
}
