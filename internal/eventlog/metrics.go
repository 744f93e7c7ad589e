package eventlog

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagate/wagate/internal/observe"
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
			Help: "Entries a subscriber group has not acknowledged yet: the consumer group's pending entries (Redis) or the rows after its cursor (embedded). Sampled every ClaimIdle/3.",
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
