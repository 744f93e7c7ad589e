package realtime_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/httpapi"
	"github.com/wagate/wagate/internal/observe"
	"github.com/wagate/wagate/internal/realtime"
	"github.com/wagate/wagate/internal/store"
)

// tokens is an httpapi.Authenticator double: a bearer token or API key
// names a tenant. Authentication itself is tested in the auth context.
type tokens map[string]string

func (tk tokens) Authenticate(_ context.Context, r *http.Request) (httpapi.Principal, bool, error) {
	cred := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if cred == "" {
		cred = r.Header.Get("X-Api-Key")
	}
	if cred == "" {
		return httpapi.Principal{}, false, nil
	}
	tenant, ok := tk[cred]
	if !ok {
		return httpapi.Principal{}, false, httpapi.ErrUnauthenticated
	}
	return httpapi.Principal{UserID: tenant, TenantID: tenant}, true, nil
}

var testTokens = tokens{"tok-a": "tenant-a", "tok-b": "tenant-b", "key-b": "tenant-b"}

// testEvent is a payload with a sequence number, so order is checkable.
type testEvent struct {
	N    int    `json:"n"`
	Type string `json:"-"`
	Pad  string `json:"pad,omitempty"`
}

func (e testEvent) EventType() string { return e.Type }

func envelope(tenant, session, typ string, n int) eventlog.Envelope {
	return eventlog.MustEnvelope(context.Background(), tenant, session, testEvent{N: n, Type: typ})
}

// appendEvents commits envelopes to the outbox in one transaction.
func appendEvents(t testing.TB, db *store.DB, envs ...eventlog.Envelope) {
	t.Helper()
	if err := db.InTx(context.Background(), func(tx *sql.Tx) error {
		return eventlog.Append(context.Background(), tx, eventlog.DomainEvents, envs...)
	}); err != nil {
		t.Errorf("append events: %v", err)
	}
}

type bundle struct {
	hub     *realtime.Hub
	reg     *prometheus.Registry
	url     string // ws://…/ws/sessions
	httpURL string
}

type setup struct {
	hub     realtime.HubConfig
	handler realtime.HandlerConfig
	// source feeds the hub; nil means following db's outbox.
	source realtime.Source
	// listener wraps the server's listener (small socket buffers).
	listener func(net.Listener) net.Listener
	// redis, when set, makes the hub follow the domain-events stream under
	// prefix (distributed mode) instead of the outbox.
	redis  *redis.Client
	prefix string
}

// start runs a hub and the WebSocket endpoint behind the real middleware
// chain (request ids, authentication) on a test server.
func start(t *testing.T, db *store.DB, s setup) *bundle {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := prometheus.NewRegistry()
	hub, err := realtime.NewHub(s.hub, logger, reg)
	if err != nil {
		t.Fatal(err)
	}
	src := s.source
	switch {
	case src != nil:
	case s.redis != nil:
		src = realtime.NewRedisSource(s.redis, realtime.RedisSourceConfig{Prefix: s.prefix, Block: time.Second}, logger)
	default:
		src = realtime.NewOutboxSource(db, realtime.OutboxSourceConfig{PollInterval: 10 * time.Millisecond}, logger)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hub.Run(ctx, src)
	}()

	var log realtime.Replayer
	switch {
	case s.redis != nil:
		log = realtime.NewStreamLog(s.redis, s.prefix)
	case db != nil:
		log = realtime.NewOutboxLog(db)
	}
	api := httpapi.New(httpapi.Config{Addr: "127.0.0.1:0", WithAPI: true}, logger, observe.NewMetrics())
	api.SetAuthenticator(testTokens)
	api.Mux.Handle("GET /ws/sessions", realtime.NewHandler(s.handler, hub, log, testTokens, logger))
	srv := httptest.NewUnstartedServer(api.Handler())
	if s.listener != nil {
		srv.Listener = s.listener(srv.Listener)
	}
	srv.Start()
	t.Cleanup(func() {
		cancel()
		<-done
		srv.CloseClientConnections()
		srv.Close()
	})
	return &bundle{hub: hub, reg: reg, url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws/sessions", httpURL: srv.URL}
}

// waitSubscribed waits until the hub holds n connections: a client's
// subscription is in place once its handshake is answered, but tests that
// publish right after dialing make the wait explicit.
func (b *bundle) waitClients(t testing.TB, n int) {
	t.Helper()
	eventually(t, 5*time.Second, func() bool { return b.hub.Clients() == n }, "hub to hold %d clients (has %d)", n, b.hub.Clients())
}

func (b *bundle) dropped(reason string) float64 {
	mfs, _ := b.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "wagate_realtime_clients_dropped_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func (b *bundle) connectedGauge(t testing.TB) float64 {
	t.Helper()
	mfs, err := b.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "wagate_realtime_clients" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("wagate_realtime_clients is not exported")
	return -1
}

// dial connects with the given query string and headers.
func dial(t testing.TB, rawURL, query string, header http.Header) *websocket.Conn {
	t.Helper()
	c, err := dialErr(rawURL, query, header, nil)
	if err != nil {
		t.Fatalf("dial %s?%s: %v", rawURL, query, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func dialErr(rawURL, query string, header http.Header, opts *websocket.DialOptions) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if opts == nil {
		opts = &websocket.DialOptions{}
	}
	opts.HTTPHeader = header
	if query != "" {
		rawURL += "?" + query
	}
	c, resp, err := websocket.Dial(ctx, rawURL, opts)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(1 << 20)
	return c, nil
}

func bearer(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }

// frame is what a client receives.
type frame struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	TenantID   string          `json:"tenantId"`
	SessionID  string          `json:"sessionId"`
	OccurredAt time.Time       `json:"occurredAt"`
	Data       json.RawMessage `json:"data"`
}

func (f frame) n() int {
	var e testEvent
	_ = json.Unmarshal(f.Data, &e)
	return e.N
}

// read returns the next frame or the error that ended the connection.
func read(c *websocket.Conn, timeout time.Duration) (frame, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	typ, data, err := c.Read(ctx)
	if err != nil {
		return frame{}, err
	}
	if typ != websocket.MessageText {
		return frame{}, fmt.Errorf("got a %v frame, want text", typ)
	}
	var f frame
	if err := json.Unmarshal(data, &f); err != nil {
		return frame{}, fmt.Errorf("frame is not an envelope: %w: %s", err, data)
	}
	return f, nil
}

// readN reads n frames or fails the test.
func readN(t testing.TB, c *websocket.Conn, n int) []frame {
	t.Helper()
	out := make([]frame, 0, n)
	for len(out) < n {
		f, err := read(c, 10*time.Second)
		if err != nil {
			t.Fatalf("after %d of %d frames: %v", len(out), n, err)
		}
		out = append(out, f)
	}
	return out
}

// expectQuiet asserts that nothing arrives within a short while: used after
// a marker event, which proves everything before it was already delivered.
func expectNothingMore(t testing.TB, c *websocket.Conn) {
	t.Helper()
	if f, err := read(c, 100*time.Millisecond); err == nil {
		t.Fatalf("unexpected frame %s %s (tenant %s)", f.Type, f.ID, f.TenantID)
	}
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
