package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/httpapi"
	"github.com/wagate/wagate/internal/observe"
	"github.com/wagate/wagate/internal/store"
	"github.com/wagate/wagate/internal/webhook"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// tokens is an httpapi.Authenticator double: a bearer token names a tenant.
type tokens map[string]string

func (tk tokens) Authenticate(_ context.Context, r *http.Request) (httpapi.Principal, bool, error) {
	cred := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if cred == "" {
		return httpapi.Principal{}, false, nil
	}
	tenant, ok := tk[cred]
	if !ok {
		return httpapi.Principal{}, false, httpapi.ErrUnauthenticated
	}
	return httpapi.Principal{UserID: tenant, TenantID: tenant}, true, nil
}

// apiServer serves the webhook API behind the real middleware chain.
func apiServer(t *testing.T, st *webhook.Store, guard webhook.Guard) string {
	t.Helper()
	srv := httpapi.New(httpapi.Config{Addr: "127.0.0.1:0", WithAPI: true}, quiet, observe.NewMetrics())
	srv.SetAuthenticator(tokens{"tok-a": "tenant-a", "tok-b": "tenant-b"})
	webhook.NewAPI(st, guard, webhook.APIConfig{MaxEndpointsPerTenant: 5}).Register(srv.API)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts.URL
}

// call sends a JSON request and decodes a JSON answer into out (if any).
func call(t *testing.T, method, url, token string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: answer is not JSON: %v: %s", method, url, err, raw)
		}
	}
	return resp.StatusCode
}

type problem struct {
	Type   string `json:"type"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// received is one request a receiver got.
type received struct {
	header http.Header
	body   []byte
}

// receiver is a webhook receiver whose answer to the n-th request (from 1)
// is chosen by respond.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	got     []received
	respond func(n int) int
}

func newReceiver(t *testing.T, respond func(n int) int) *receiver {
	t.Helper()
	r := &receiver{respond: respond}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.got = append(r.got, received{header: req.Header.Clone(), body: body})
	n := len(r.got)
	r.mu.Unlock()
	w.WriteHeader(r.respond(n))
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func always(code int) func(int) int { return func(int) int { return code } }

// fastRetries is a delivery configuration for tests: quick polls and backoffs.
func fastRetries() webhook.DelivererConfig {
	return webhook.DelivererConfig{
		PollInterval: 10 * time.Millisecond,
		BaseBackoff:  10 * time.Millisecond,
		MaxBackoff:   50 * time.Millisecond,
		Timeout:      2 * time.Second,
		Guard:        webhook.Guard{AllowPrivate: true},
	}
}

// runDeliverer starts a delivery loop and returns a function that stops it
// and waits until it has.
func runDeliverer(t *testing.T, st *webhook.Store, cfg webhook.DelivererConfig) (*webhook.Deliverer, func()) {
	t.Helper()
	d, err := webhook.NewDeliverer(cfg, st, quiet, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = d.Run(ctx)
	}()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return d, stop
}

// addEndpoint stores an endpoint directly (no URL vetting).
func addEndpoint(t *testing.T, st *webhook.Store, tenant, url, secret string, events ...string) *webhook.Endpoint {
	t.Helper()
	e, err := webhook.NewEndpoint(eventlog.NewID(), tenant, url, events, secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateEndpoint(context.Background(), e, 100); err != nil {
		t.Fatal(err)
	}
	return e
}

type testEvent struct {
	N    int    `json:"n"`
	Type string `json:"-"`
}

func (e testEvent) EventType() string { return e.Type }

func event(tenant, typ string, n int) eventlog.Envelope {
	return eventlog.MustEnvelope(context.Background(), tenant, "s1", testEvent{N: n, Type: typ})
}

func deliveries(t *testing.T, st *webhook.Store, tenant, endpointID string) []webhook.Delivery {
	t.Helper()
	ds, _, err := st.Deliveries(context.Background(), tenant, endpointID, webhook.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func eventually(t testing.TB, within time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for "+format, args...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func outboxTypes(t *testing.T, db *store.DB, tenant string) []string {
	t.Helper()
	rows, err := db.SQL.Query(`SELECT type FROM outbox WHERE tenant_id = $1 ORDER BY seq`, tenant)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}
