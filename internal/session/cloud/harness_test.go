package cloud

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/eventlog/eventlogtest"
	"github.com/wagate/wagate/internal/httpapi"
	"github.com/wagate/wagate/internal/messaging"
	"github.com/wagate/wagate/internal/observe"
	"github.com/wagate/wagate/internal/session"
	"github.com/wagate/wagate/internal/store"
	"github.com/wagate/wagate/internal/testenv"
)

const testSecretKey = "test-secret-key-of-enough-length"

// tokenAuth is an httpapi.Authenticator double: a bearer token is the
// tenant id. Authentication itself is tested in the auth context.
type tokenAuth struct{}

func (tokenAuth) Authenticate(ctx context.Context, r *http.Request) (httpapi.Principal, bool, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return httpapi.Principal{}, false, nil
	}
	return httpapi.Principal{UserID: tok, TenantID: tok}, true, nil
}

type sessionChecker struct{ store *session.Store }

func (c sessionChecker) Exists(ctx context.Context, tenantID, sessionID string) error {
	_, err := c.store.Get(ctx, tenantID, sessionID)
	return err
}

// env is one wagate deployment under test: the API (sessions, messaging,
// the Cloud API webhook) over one database, a fake Graph API, and — after
// startWorker — a session worker running the cloud provider, the messaging
// worker and the persisting consumer on the embedded event log.
type env struct {
	t        *testing.T
	db       *store.DB
	sessions *session.Store
	cloud    *Store
	graph    *fakeGraph
	api      *httptest.Server
	metrics  *observe.Metrics
}

func newEnv(t *testing.T, d store.Dialect, secretKey string) *env {
	t.Helper()
	db := testenv.OpenDB(t, d)
	var secrets *Secrets
	if secretKey != "" {
		s, err := NewSecrets(secretKey)
		if err != nil {
			t.Fatal(err)
		}
		secrets = s
	}
	e := &env{t: t, db: db, sessions: session.NewStore(db), cloud: NewStore(db, secrets), graph: newFakeGraph(t),
		metrics: observe.NewMetrics()}
	srv := httpapi.New(httpapi.Config{Addr: "127.0.0.1:0", WithAPI: true, Authenticator: tokenAuth{}}, quietLogger(), e.metrics)
	session.NewAPI(e.sessions, session.APIConfig{
		Providers: []string{session.ProviderWhatsmeow, session.ProviderCloud}, Cloud: e.cloud,
	}).Register(srv.API)
	svc, err := messaging.NewService(messaging.ServiceConfig{MediaDir: t.TempDir(), MediaWait: 10 * time.Second},
		messaging.NewStore(db, nil), sessionChecker{e.sessions}, quietLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	messaging.RegisterHTTP(srv, svc)
	hook, err := NewWebhookAPI(e.cloud, quietLogger(), e.metrics.Registry)
	if err != nil {
		t.Fatal(err)
	}
	hook.Register(srv.API)
	NewSettingsAPI(e.sessions, e.cloud).Register(srv.API)
	e.api = httptest.NewServer(srv.Handler())
	t.Cleanup(e.api.Close)
	return e
}

// startWorker runs a session worker until the test ends.
func (e *env) startWorker() *session.Manager {
	e.t.Helper()
	provider := New(Config{BaseURL: e.graph.URL(), CheckTimeout: 5 * time.Second}, e.cloud, quietLogger())
	mgr, err := session.NewManager(session.ManagerConfig{
		Store: e.sessions, Providers: []session.Provider{provider},
		LeaseTTL: 3 * time.Second, ReconcileInterval: 200 * time.Millisecond, MailboxInterval: 20 * time.Millisecond,
		ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
	}, quietLogger())
	if err != nil {
		e.t.Fatal(err)
	}
	msgStore := messaging.NewStore(e.db, nil)
	w, err := messaging.NewWorker(messaging.WorkerConfig{SendTimeout: time.Minute, ScanInterval: 50 * time.Millisecond},
		msgStore, mgr, quietLogger(), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	subs := []eventlog.Subscription{mgr.Subscription(), mgr.Routed(provider.Subscription()),
		messaging.NewIngester(msgStore, quietLogger(), nil).Subscription()}
	for _, s := range w.Subscriptions() {
		subs = append(subs, mgr.Routed(s))
	}
	log, err := eventlog.NewEmbeddedLog(e.db, eventlogtest.Config(), quietLogger(), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{mgr.Run, w.Run, func(ctx context.Context) error { return log.Run(ctx, subs...) }} {
		wg.Add(1)
		go func() { defer wg.Done(); _ = run(ctx) }()
	}
	e.t.Cleanup(func() { cancel(); wg.Wait() })
	return mgr
}

// call makes an API request as tenant ("" for none) and decodes a JSON
// answer into out.
func (e *env) call(tenant, method, path string, body any, out any) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.api.URL+path, rd)
	if tenant != "" {
		req.Header.Set("Authorization", "Bearer "+tenant)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return e.do(req, out)
}

func (e *env) do(req *http.Request, out any) (int, []byte) {
	e.t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", req.Method, req.URL.Path, raw, err)
		}
	}
	return res.StatusCode, raw
}

func (e *env) mustCall(tenant, method, path string, body any, out any, want int) []byte {
	e.t.Helper()
	status, raw := e.call(tenant, method, path, body, out)
	if status != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, status, want, raw)
	}
	return raw
}

// post delivers a webhook payload as Meta would, signed with secret ("" for
// no signature header).
func (e *env) post(payload, secret string) (int, ReceiveResult, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.api.URL+"/webhooks/messages", strings.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set(SignatureHeader, Sign(secret, []byte(payload)))
	}
	var out ReceiveResult
	status, raw := e.do(req, &out)
	return status, out, raw
}

func cloudSettings() session.CloudSettings {
	return session.CloudSettings{PhoneNumberID: testPhoneNumberID, AccessToken: testToken,
		AppSecret: testAppSecret, VerifyToken: testVerifyToken}
}

// createCloudSession creates a cloud session through the API.
func (e *env) createCloudSession(tenant string, s session.CloudSettings) string {
	e.t.Helper()
	var out struct {
		SessionID string `json:"sessionId"`
	}
	e.mustCall(tenant, http.MethodPost, "/sessions", map[string]any{"name": "shop", "provider": "cloud", "cloud": s}, &out, http.StatusCreated)
	return out.SessionID
}

// event is an outbox row.
type event struct {
	Seq  int64
	Type string
	Data map[string]any
}

func (e *env) events(stream, sessionID string) []event {
	e.t.Helper()
	rows, err := e.db.SQL.QueryContext(context.Background(), `SELECT seq, type, data FROM outbox
		WHERE stream = $1 AND session_id = $2 ORDER BY seq`, stream, sessionID)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []event
	for rows.Next() {
		var ev event
		var data string
		if err := rows.Scan(&ev.Seq, &ev.Type, &data); err != nil {
			e.t.Fatal(err)
		}
		_ = json.Unmarshal([]byte(data), &ev.Data)
		out = append(out, ev)
	}
	return out
}

func (e *env) count(stream, sessionID, typ string, match func(event) bool) int {
	n := 0
	for _, ev := range e.events(stream, sessionID) {
		if ev.Type == typ && (match == nil || match(ev)) {
			n++
		}
	}
	return n
}

const waitTimeout = 30 * time.Second

// eventually polls cond until it holds or the deadline passes.
func (e *env) eventually(cond func() bool, msg string, args ...any) {
	e.t.Helper()
	eventlogtest.Eventually(e.t, waitTimeout, cond, msg, args...)
}
