package main

import (
	"context"
	"database/sql"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/store"
)

type mode int

const (
	modeEmbeddedSQLite mode = iota
	modeEmbeddedPostgres
	modeDistributed
)

type wagateSystem struct {
	env  *env
	mode mode
}

func newWagate(e *env, m mode) *wagateSystem { return &wagateSystem{env: e, mode: m} }

func (s *wagateSystem) name() string {
	switch s.mode {
	case modeEmbeddedSQLite:
		return "wagate embedded (SQLite)"
	case modeEmbeddedPostgres:
		return "wagate embedded (PostgreSQL, no Redis)"
	default:
		return "wagate distributed (PostgreSQL + Redis)"
	}
}

func (s *wagateSystem) runConsume(ctx context.Context, n int) throughput {
	return runConsumeOnly(ctx, s, n)
}

type wagateInstance struct {
	sys    *wagateSystem
	db     *store.DB
	rdb    *redis.Client
	prefix string
}

func (s *wagateSystem) newInstance(ctx context.Context) instance {
	inst := &wagateInstance{sys: s}
	if s.mode == modeEmbeddedSQLite {
		inst.db = s.env.openDB(store.SQLite)
	} else {
		inst.db = s.env.openDB(store.Postgres)
	}
	if s.mode == modeDistributed {
		inst.rdb, inst.prefix = s.env.rdb, s.env.prefix()
	}
	return inst
}

type benchEvent struct {
	T int64 `json:"t"`
}

func (benchEvent) EventType() string { return "bench.event" }

func (w *wagateInstance) publish(ctx context.Context, n int) error {
	return w.db.InTx(ctx, func(tx *sql.Tx) error {
		envs := make([]eventlog.Envelope, n)
		for i := range envs {
			envs[i] = eventlog.MustEnvelope(ctx, "tenant-bench", "", benchEvent{T: time.Now().UnixNano()})
		}
		return eventlog.Append(ctx, tx, eventlog.DomainEvents, envs...)
	})
}

func (w *wagateInstance) config() eventlog.Config {
	// The production defaults, as wagate's wiring builds them.
	return eventlog.Config{Prefix: w.prefix, MaxAttempts: 8, StreamMaxLen: 1_000_000, ConsumerName: "bench-" + randomHex(4)}
}

func (w *wagateInstance) store(ctx context.Context, n int) {
	publishBacklog(ctx, w.sys, w, n)
	if w.sys.mode != modeDistributed {
		return
	}
	d, err := eventlog.NewDispatcher(w.db, w.rdb, w.config(), nil, nil)
	if err != nil {
		fatal("dispatcher: %v", err)
	}
	for {
		k, err := d.DispatchOnce(ctx)
		if err != nil {
			fatal("dispatch: %v", err)
		}
		if k == 0 {
			return
		}
	}
}

func (w *wagateInstance) consume(ctx context.Context, group string, onEvent func(int64)) func() {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var runner eventlog.Runner
	var err error
	if w.sys.mode == modeDistributed {
		d, err := eventlog.NewDispatcher(w.db, w.rdb, w.config(), nil, nil)
		if err != nil {
			fatal("dispatcher: %v", err)
		}
		wg.Go(func() { _ = d.Run(ctx) })
		runner, err = eventlog.NewRedisLog(w.db, w.rdb, w.config(), nil, nil)
	} else {
		runner, err = eventlog.NewEmbeddedLog(w.db, w.config(), nil, nil)
	}
	if err != nil {
		fatal("runner: %v", err)
	}
	sub := eventlog.Subscription{Name: group, Stream: eventlog.DomainEvents,
		Handler: func(ctx context.Context, env eventlog.Envelope) error {
			var ev benchEvent
			if err := env.Decode(&ev); err != nil {
				return err
			}
			onEvent(ev.T)
			return nil
		}}
	wg.Go(func() { _ = runner.Run(ctx, sub) })
	return func() { cancel(); wg.Wait() }
}
