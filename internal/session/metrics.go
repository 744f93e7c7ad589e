package session

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// StatusCollector exports wagate_sessions{status} — live sessions by status
// across all tenants — counted in the database at scrape time, so every
// process reports the same numbers whichever workers run the sessions.
type StatusCollector struct {
	store *Store
	log   *slog.Logger
	desc  *prometheus.Desc
}

var _ prometheus.Collector = (*StatusCollector)(nil)

// NewStatusCollector returns the collector over store.
func NewStatusCollector(store *Store, logger *slog.Logger) *StatusCollector {
	return &StatusCollector{store: store, log: logger, desc: prometheus.NewDesc(
		"wagate_sessions", "Sessions by status (all tenants).", []string{"status"}, nil)}
}

// Describe implements prometheus.Collector.
func (c *StatusCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *StatusCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	counts := map[Status]float64{StatusPendingQR: 0, StatusConnected: 0, StatusDisconnected: 0}
	rows, err := c.store.DB().SQL.QueryContext(ctx, `SELECT status, COUNT(*) FROM sessions
		WHERE deleted_at = 0 GROUP BY status`)
	if err != nil {
		c.log.Warn("count sessions by status", "error", err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var status string
		var n float64
		if err := rows.Scan(&status, &n); err != nil {
			c.log.Warn("count sessions by status", "error", err)
			return
		}
		counts[Status(status)] = n
	}
	for status, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, n, string(status))
	}
}
