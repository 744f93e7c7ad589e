package messaging

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the messaging context's Prometheus collectors. A nil *Metrics
// records nothing (tests, benchmarks).
type Metrics struct {
	sends    *prometheus.CounterVec
	ingest   *prometheus.CounterVec
	accepted prometheus.Counter
}

// NewMetrics registers the collectors on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wagate_messaging_sends_total",
			Help: "Outgoing messages finished by the session worker, by result (sent, or the failure reason).",
		}, []string{"result"}),
		ingest: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wagate_messaging_ingested_messages_total",
			Help: "Messages persisted from provider events, by event type.",
		}, []string{"event"}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wagate_messaging_accepted_total",
			Help: "Send requests accepted by the API (idempotent replays excluded).",
		}),
	}
	reg.MustRegister(m.sends, m.ingest, m.accepted)
	return m
}

func (m *Metrics) sent(result string) {
	if m != nil {
		m.sends.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) ingested(event string, n int) {
	if m != nil {
		m.ingest.WithLabelValues(event).Add(float64(n))
	}
}

func (m *Metrics) acceptedOne() {
	if m != nil {
		m.accepted.Inc()
	}
}
