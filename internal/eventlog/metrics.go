package eventlog

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagate/wagate/internal/observe"
	"github.com/wagate/wagate/internal/store"
)

// metrics are the event log's Prometheus collectors. Several runners in one
// process (a dispatcher and a consumer runner, or tests) share them.
type metrics struct {
	processed    *prometheus.CounterVec
	retried      *prometheus.CounterVec
	deadLettered *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	published    prometheus.Counter
	pending      *prometheus.GaugeVec
	reg          prometheus.Registerer
}

func newMetrics(m *observe.Metrics) *metrics {
	var reg prometheus.Registerer = prometheus.NewRegistry()
	if m != nil && m.Registry != nil {
		reg = m.Registry
	}
	return &metrics{
		reg: reg,
		processed: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wagate_eventlog_processed_total",
			Help: "Entries a subscriber handled successfully.",
		}, []string{"subscriber"})),
		retried: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wagate_eventlog_retried_total",
			Help: "Failed handler attempts that were retried.",
		}, []string{"subscriber"})),
		deadLettered: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wagate_eventlog_dead_lettered_total",
			Help: "Entries dead-lettered after their last failed attempt.",
		}, []string{"subscriber"})),
		duration: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wagate_eventlog_handle_duration_seconds",
			Help:    "Duration of one handler attempt.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"subscriber"})),
		pending: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wagate_eventlog_stream_pending",
			Help: "Entries read by a Redis consumer group and not acknowledged yet, plus entries not read yet (the group's lag). Sampled every ClaimIdle/3.",
		}, []string{"subscriber"})),
		published: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wagate_eventlog_published_total",
			Help: "Outbox rows the dispatcher published to Redis Streams.",
		})),
	}
}

// register registers c, or returns the equal collector registered before.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

// cursorLag reports, when scraped, how many outbox rows each embedded
// consumer group has not handled yet (the rows after its cursor).
type cursorLag struct {
	db   *store.DB
	desc *prometheus.Desc
}

func registerCursorLag(reg prometheus.Registerer, db *store.DB) {
	c := &cursorLag{db: db, desc: prometheus.NewDesc("wagate_eventlog_cursor_lag",
		"Outbox rows an embedded consumer group has not handled yet.", []string{"subscriber"}, nil)}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			panic(err)
		}
	}
}

func (c *cursorLag) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *cursorLag) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	q := `SELECT c.subscriber, (SELECT count(*) FROM outbox o WHERE o.stream = c.stream AND o.seq > c.seq)
		FROM consumer_cursors c`
	if c.db.Dialect == store.Postgres {
		q = `SELECT c.subscriber, (SELECT count(*) FROM outbox o
			WHERE o.stream = c.stream AND (o.tx_id, o.seq) > (c.tx_id::text::xid8, c.seq))
			FROM consumer_cursors c`
	}
	rows, err := c.db.SQL.QueryContext(ctx, q)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			ch <- prometheus.NewInvalidMetric(c.desc, err)
			return
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), name)
	}
}
