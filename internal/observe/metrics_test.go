package observe_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagate/wagate/internal/observe"
)

func scrape(t *testing.T, m *observe.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("metrics handler: %d", rec.Code)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestMetricsExposeRuntimeProcessAndHTTP(t *testing.T) {
	t.Parallel()
	m := observe.NewMetrics()
	m.HTTPRequests.WithLabelValues("/healthz", "GET", "200").Inc()
	m.HTTPDuration.WithLabelValues("/healthz", "GET").Observe(0.01)
	out := scrape(t, m)
	for _, want := range []string{
		"go_goroutines ", "go_memstats_alloc_bytes ", "process_cpu_seconds_total ",
		`wagate_http_requests_total{method="GET",route="/healthz",status="200"} 1`,
		`wagate_http_request_duration_seconds_count{method="GET",route="/healthz"} 1`,
		"wagate_http_requests_in_flight 0",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}

// TestMetricsRegistriesAreIndependent: each process (and test) has its own
// registry, so two apps in one test binary never collide on registration.
func TestMetricsRegistriesAreIndependent(t *testing.T) {
	t.Parallel()
	a, b := observe.NewMetrics(), observe.NewMetrics()
	a.HTTPRequests.WithLabelValues("/x", "GET", "200").Inc()
	if strings.Contains(scrape(t, b), `route="/x"`) {
		t.Error("a request recorded on one registry shows on another")
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "wagate_test_things_total", Help: "things"})
	if err := a.Registry.Register(c); err != nil {
		t.Fatalf("register on a: %v", err)
	}
	if err := b.Registry.Register(c); err != nil {
		t.Fatalf("the same collector on another registry: %v", err)
	}
	c.Inc()
	if !strings.Contains(scrape(t, a), "wagate_test_things_total 1") {
		t.Error("a context's collector is not exported")
	}
}
