package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
)

// watermillSystem is the peer a Go team would otherwise pick: watermill-sql
// publishing inside the business transaction (a PostgreSQL outbox table)
// and a watermill-sql subscriber polling it every 10 ms, acknowledging each
// message. watermill-redisstream is not available from our module proxy,
// so the Redis leg of that setup (forwarder + Redis subscriber) is absent:
// this measures Watermill's SQL outbox path alone.
type watermillSystem struct{ env *env }

func newWatermill(e *env) *watermillSystem { return &watermillSystem{env: e} }

func (s *watermillSystem) name() string { return "Watermill SQL (PostgreSQL, 10 ms poll)" }

func (s *watermillSystem) runConsume(ctx context.Context, n int) throughput {
	return runConsumeOnly(ctx, s, n)
}

const watermillTopic = "domain_events"

type watermillInstance struct {
	sys *watermillSystem
	db  *sql.DB
}

func (s *watermillSystem) newInstance(ctx context.Context) instance {
	db, err := sql.Open("pgx", s.env.postgresURL())
	if err != nil {
		fatal("watermill: open: %v", err)
	}
	db.SetMaxOpenConns(20)
	s.env.closers = append(s.env.closers, func() { db.Close() })
	inst := &watermillInstance{sys: s, db: db}
	sub := inst.subscriber("init")
	if err := sub.SubscribeInitialize(watermillTopic); err != nil {
		fatal("watermill: initialize schema: %v", err)
	}
	_ = sub.Close()
	return inst
}

func (w *watermillInstance) subscriber(group string) *wsql.Subscriber {
	sub, err := wsql.NewSubscriber(wsql.BeginnerFromStdSQL(w.db), wsql.SubscriberConfig{
		ConsumerGroup:    group,
		PollInterval:     10 * time.Millisecond,
		SchemaAdapter:    wsql.DefaultPostgreSQLSchema{},
		OffsetsAdapter:   wsql.DefaultPostgreSQLOffsetsAdapter{},
		InitializeSchema: true,
	}, watermill.NopLogger{})
	if err != nil {
		fatal("watermill: subscriber: %v", err)
	}
	return sub
}

func (w *watermillInstance) publish(ctx context.Context, n int) error {
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	pub, err := wsql.NewPublisher(wsql.TxFromStdSQL(tx), wsql.PublisherConfig{SchemaAdapter: wsql.DefaultPostgreSQLSchema{}}, watermill.NopLogger{})
	if err != nil {
		return err
	}
	msgs := make([]*message.Message, n)
	for i := range msgs {
		payload, _ := json.Marshal(benchEvent{T: time.Now().UnixNano()})
		msgs[i] = message.NewMessage(watermill.NewUUID(), payload)
	}
	if err := pub.Publish(watermillTopic, msgs...); err != nil {
		return err
	}
	return tx.Commit()
}

func (w *watermillInstance) store(ctx context.Context, n int) { publishBacklog(ctx, w.sys, w, n) }

func (w *watermillInstance) consume(ctx context.Context, group string, onEvent func(int64)) func() {
	ctx, cancel := context.WithCancel(ctx)
	sub := w.subscriber(group)
	ch, err := sub.Subscribe(ctx, watermillTopic)
	if err != nil {
		fatal("watermill: subscribe: %v", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for msg := range ch {
			var ev benchEvent
			if err := json.Unmarshal(msg.Payload, &ev); err == nil {
				onEvent(ev.T)
			}
			msg.Ack()
		}
	})
	return func() { cancel(); _ = sub.Close(); wg.Wait() }
}
