// Package app wires wagate together for each process role: it opens the
// stores, builds every bounded context with its adapters and starts what the
// role runs. This is the one place where concrete types meet (the Go
// counterpart of the seed's buildAppContext); no DI framework.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wagate/wagate/internal/config"
	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/httpapi"
	"github.com/wagate/wagate/internal/observe"
	"github.com/wagate/wagate/internal/session"
	"github.com/wagate/wagate/internal/store"
)

// Role is what one process does.
type Role string

// The process roles; RoleServe runs all the others in one process.
const (
	RoleServe            Role = "serve"
	RoleAPI              Role = "api"
	RoleSessionWorker    Role = "session-worker"
	RoleEventConsumer    Role = "event-consumer"
	RoleOutboxDispatcher Role = "outbox-dispatcher"
)

// Roles lists every role a process can take.
var Roles = []Role{RoleServe, RoleAPI, RoleSessionWorker, RoleEventConsumer, RoleOutboxDispatcher}

// Version is set at build time with -ldflags "-X …/internal/app.Version=…".
var Version = "dev"

func (r Role) runs(part Role) bool { return r == RoleServe || r == part }

// App is one running process: shared infrastructure plus the background
// loops its role runs.
type App struct {
	Role    Role
	Config  config.Config
	Logger  *slog.Logger
	Metrics *observe.Metrics
	DB      *store.DB
	Redis   *redis.Client
	HTTP    *httpapi.Server
	// Events runs event subscriptions: Redis consumer groups in distributed
	// mode, the embedded cursor log otherwise (wire_eventlog.go).
	Events eventlog.Runner
	// SessionManager runs WhatsApp sessions; set in session-worker
	// processes only (wire_session.go).
	SessionManager *session.Manager

	opts          Options
	subscriptions []roleSubscription
	loops         []loop
	closers       []func() error
}

// loop is a long-running part of a role (consumer, dispatcher, worker). It
// returns when ctx ends.
type loop struct {
	name string
	run  func(ctx context.Context) error
}

// New opens the stores and builds everything the role needs. Nothing runs
// until Run.
func New(ctx context.Context, role Role, cfg config.Config, logger *slog.Logger) (*App, error) {
	return newApp(ctx, role, cfg, logger, Options{})
}

func newApp(ctx context.Context, role Role, cfg config.Config, logger *slog.Logger, opts Options) (*App, error) {
	a := &App{Role: role, Config: cfg, Logger: logger.With("role", string(role)), Metrics: observe.NewMetrics(), opts: opts}
	ok := false
	defer func() {
		if !ok {
			a.close()
		}
	}()

	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	a.DB = db
	a.closers = append(a.closers, db.Close)
	// serve migrates in both modes; in embedded mode every role does, since
	// there is no separate deploy step for a single SQLite file.
	if role == RoleServe || db.Dialect == store.SQLite {
		applied, err := db.Migrate(ctx)
		if err != nil {
			return nil, err
		}
		if len(applied) > 0 {
			a.Logger.Info("migrations applied", "versions", applied)
		}
	}
	if cfg.RedisURL != "" {
		opts, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("WAGATE_REDIS_URL: %w", err)
		}
		a.Redis = redis.NewClient(opts)
		a.closers = append(a.closers, a.Redis.Close)
	}

	a.HTTP = httpapi.New(httpapi.Config{
		Addr:         cfg.HTTPAddr,
		Role:         string(role),
		Version:      Version,
		MaxBodyBytes: cfg.MaxBodyBytes,
		WithAPI:      role.runs(RoleAPI),
	}, a.Logger, a.Metrics)
	a.HTTP.AddCheck("database", db.Ping)
	if a.Redis != nil {
		a.HTTP.AddCheck("redis", func(ctx context.Context) error { return a.Redis.Ping(ctx).Err() })
	}

	if err := a.wire(ctx); err != nil {
		return nil, err
	}
	ok = true
	return a, nil
}

// wire builds the bounded contexts and registers what the role runs.
func (a *App) wire(ctx context.Context) error {
	if err := a.wireEventlog(ctx); err != nil {
		return err
	}
	if err := a.wireSessions(ctx); err != nil {
		return err
	}
	if err := a.wireMessaging(ctx); err != nil {
		return err
	}
	if err := a.wireCloud(ctx); err != nil {
		return err
	}
	if err := a.wireAuth(ctx); err != nil {
		return err
	}
	if err := a.wireWeb(); err != nil {
		return err
	}
	if err := a.wireRealtime(ctx); err != nil {
		return err
	}
	a.startEventlog()
	return nil
}

func (a *App) addLoop(name string, run func(ctx context.Context) error) {
	a.loops = append(a.loops, loop{name: name, run: run})
}

// Run serves HTTP and runs the role's loops until ctx ends, then shuts down
// gracefully: stop accepting, finish in-flight requests, stop loops, close
// stores.
func (a *App) Run(ctx context.Context) error {
	defer a.close()
	if err := a.HTTP.Start(); err != nil {
		return err
	}
	a.Logger.Info("wagate started", "version", Version, "mode", a.mode(), "http", a.HTTP.Addr())

	loopCtx, stopLoops := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLoops()
	var wg sync.WaitGroup
	failed := make(chan error, len(a.loops))
	for _, l := range a.loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.run(loopCtx); err != nil && !errors.Is(err, context.Canceled) {
				a.Logger.Error("background loop failed", "loop", l.name, "error", err)
				failed <- fmt.Errorf("%s: %w", l.name, err)
			}
		}()
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-failed:
	}
	a.Logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), a.Config.ShutdownTimeout)
	defer cancel()
	if err := a.HTTP.Shutdown(shutdownCtx); err != nil {
		a.Logger.Warn("http shutdown", "error", err)
	}
	stopLoops()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-shutdownCtx.Done():
		a.Logger.Warn("background loops did not stop in time")
	}
	a.Logger.Info("stopped")
	return runErr
}

func (a *App) mode() string {
	if a.Config.Distributed() {
		return "distributed"
	}
	return "embedded"
}

func (a *App) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](); err != nil {
			a.Logger.Warn("close", "error", err)
		}
	}
	a.closers = nil
}

// Migrate applies the schema migrations and reports what it did.
func Migrate(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	start := time.Now()
	applied, err := db.Migrate(ctx)
	if err != nil {
		return err
	}
	logger.Info("migrations done", "applied", applied, "dialect", string(db.Dialect), "durationMs", time.Since(start).Milliseconds())
	return nil
}
