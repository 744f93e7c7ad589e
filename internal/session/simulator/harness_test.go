package simulator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/eventlog/eventlogtest"
	"github.com/wagate/wagate/internal/httpapi"
	"github.com/wagate/wagate/internal/observe"
	"github.com/wagate/wagate/internal/session"
	"github.com/wagate/wagate/internal/session/simulator"
	"github.com/wagate/wagate/internal/store"
	"github.com/wagate/wagate/internal/testenv"
)

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

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(io.Discard, nil)).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

// env is one wagate deployment under test: an API server and a session
// worker (manager + simulator + embedded event log) over one database.
type env struct {
	t        *testing.T
	db       *store.DB
	store    *session.Store
	api      *httptest.Server
	simCfg   simulator.Config
	worker   *worker
	simAPIOn bool
}

// worker is one session-worker process: restartable.
type worker struct {
	mgr    *session.Manager
	sim    *simulator.Provider
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// pairCodeWait bounds pair-code calls in tests (short: a test without a
// worker waits for it in full).
const pairCodeWait = 2 * time.Second

func newEnv(t *testing.T, d store.Dialect, simCfg simulator.Config, simulatorEnabled bool) *env {
	t.Helper()
	db := testenv.OpenDB(t, d)
	e := &env{t: t, db: db, store: session.NewStore(db), simCfg: simCfg, simAPIOn: simulatorEnabled}
	srv := httpapi.New(httpapi.Config{Addr: "127.0.0.1:0", WithAPI: true, Authenticator: tokenAuth{}},
		testLogger(t), observe.NewMetrics())
	providers := []string{session.ProviderWhatsmeow}
	if simulatorEnabled {
		providers = append(providers, session.ProviderSimulator)
	}
	session.NewAPI(e.store, session.APIConfig{Providers: providers, PairCodeWait: pairCodeWait, PairCodePoll: 20 * time.Millisecond}).Register(srv.API)
	if simulatorEnabled {
		simulator.NewAPI(e.store).Register(srv.API)
	}
	e.api = httptest.NewServer(srv.Handler())
	t.Cleanup(e.api.Close)
	return e
}

// startWorker starts a session worker; it stops at cleanup or stopWorker.
func (e *env) startWorker() *worker {
	e.t.Helper()
	sim := simulator.New(e.simCfg, e.db, testLogger(e.t))
	mgr, err := session.NewManager(session.ManagerConfig{
		Store: e.store, Providers: []session.Provider{sim},
		LeaseTTL: 3 * time.Second, ReconcileInterval: 200 * time.Millisecond, MailboxInterval: 20 * time.Millisecond,
		ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
		PairCodeTimeout: 3 * time.Second,
	}, testLogger(e.t))
	if err != nil {
		e.t.Fatal(err)
	}
	log, err := eventlog.NewEmbeddedLog(e.db, eventlogtest.Config(), testLogger(e.t), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &worker{mgr: mgr, sim: sim, cancel: cancel}
	w.wg.Add(2)
	go func() { defer w.wg.Done(); _ = mgr.Run(ctx) }()
	go func() { defer w.wg.Done(); _ = log.Run(ctx, mgr.Subscription(), mgr.Routed(sim.Subscription())) }()
	e.worker = w
	e.t.Cleanup(w.stop)
	return w
}

func (w *worker) stop() {
	w.cancel()
	w.wg.Wait()
}

// call makes an API request as tenant and decodes a JSON answer into out.
func (e *env) call(tenant, method, path string, body any, out any) (int, http.Header, []byte) {
	e.t.Helper()
	return e.callAccept(tenant, method, path, body, out, "")
}

func (e *env) callAccept(tenant, method, path string, body any, out any, accept string) (int, http.Header, []byte) {
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
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
	return res.StatusCode, res.Header, raw
}

// mustCall is call that fails the test unless the status is want.
func (e *env) mustCall(tenant, method, path string, body any, out any, want int) []byte {
	e.t.Helper()
	status, _, raw := e.call(tenant, method, path, body, out)
	if status != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, status, want, raw)
	}
	return raw
}

// event is a domain event read back from the outbox.
type event struct {
	Seq  int64
	Type string
	Data map[string]any
}

// events returns the session's domain events after seq.
func (e *env) events(sessionID string, after int64) []event {
	e.t.Helper()
	rows, err := e.db.SQL.QueryContext(context.Background(), `SELECT seq, type, data FROM outbox
		WHERE stream = $1 AND session_id = $2 AND seq > $3 ORDER BY seq`, eventlog.DomainEvents, sessionID, after)
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

// waitEvent waits for the session's first event of type typ after seq for
// which match (if any) holds.
func (e *env) waitEvent(sessionID string, after int64, typ string, match func(event) bool) event {
	e.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		evs := e.events(sessionID, after)
		for _, ev := range evs {
			if ev.Type == typ && (match == nil || match(ev)) {
				return ev
			}
		}
		if time.Now().After(deadline) {
			var seen []string
			for _, ev := range e.events(sessionID, 0) {
				seen = append(seen, fmt.Sprintf("%d:%s%v", ev.Seq, ev.Type, ev.Data))
			}
			e.t.Fatalf("no %s for session %s after seq %d within %s; its events:\n%s",
				typ, sessionID, after, waitTimeout, strings.Join(seen, "\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitTimeout is generous: the machine running the tests may be loaded.
// It is a deadline, not an expectation of speed.
const waitTimeout = 30 * time.Second

func reasonIs(r session.DisconnectReason) func(event) bool {
	return func(ev event) bool { return ev.Data["reason"] == string(r) }
}

func (e *env) countEvents(sessionID string, after int64, typ string) int {
	n := 0
	for _, ev := range e.events(sessionID, after) {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

func (e *env) getSession(tenant, id string) session.SessionView {
	e.t.Helper()
	var v session.SessionView
	e.mustCall(tenant, http.MethodGet, "/sessions/"+id, nil, &v, http.StatusOK)
	return v
}

func (e *env) createSimSession(tenant string) string {
	e.t.Helper()
	var out struct {
		SessionID string `json:"sessionId"`
		Status    string `json:"status"`
	}
	e.mustCall(tenant, http.MethodPost, "/sessions", map[string]string{"name": "sim", "provider": "simulator"}, &out, http.StatusCreated)
	if out.SessionID == "" || out.Status != "pending_qr" {
		e.t.Fatalf("create answered %+v", out)
	}
	return out.SessionID
}
