package app

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/httpapi"
	"github.com/wagate/wagate/internal/testenv"
	"github.com/wagate/wagate/internal/webhook"
)

// tokenAuth maps bearer tokens to tenants (auth is tested in its context).
type tokenAuth map[string]string

func (a tokenAuth) Authenticate(_ context.Context, r *http.Request) (httpapi.Principal, bool, error) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if tok == "" {
		return httpapi.Principal{}, false, nil
	}
	if tenant, ok := a[tok]; ok {
		return httpapi.Principal{UserID: tenant, TenantID: tenant}, true, nil
	}
	return httpapi.Principal{}, false, httpapi.ErrUnauthenticated
}

type pingEvent struct{ N int }

func (pingEvent) EventType() string { return "message.received" }

// TestRealtimeAndWebhooksAreWired runs wagate serve, appends an event the
// way every context does (in a transaction, to the outbox) and expects it on
// a WebSocket opened with ?access_token= and at a registered webhook.
func TestRealtimeAndWebhooksAreWired(t *testing.T) {
	t.Parallel()
	modes := map[string]func(t *testing.T) map[string]string{
		"Embedded": func(t *testing.T) map[string]string {
			return map[string]string{"WAGATE_DATABASE_URL": testenv.SQLitePath(t)}
		},
		"Distributed": func(t *testing.T) map[string]string {
			_, prefix := testenv.Redis(t)
			return map[string]string{
				"WAGATE_DATABASE_URL": testenv.PostgresURL(t),
				"WAGATE_REDIS_URL":    testenv.RedisURL(),
				"WAGATE_REDIS_PREFIX": prefix,
			}
		},
	}
	for name, vars := range modes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := vars(t)
			env["WAGATE_WEBHOOK_ALLOW_PRIVATE"] = "true"
			r := startApp(t, RoleServe, testConfig(t, env), func(a *App) {
				a.HTTP.SetAuthenticator(tokenAuth{"tok": "tenant-e2e"})
			})

			var (
				mu  sync.Mutex
				got []*http.Request
			)
			rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				body, _ := io.ReadAll(req.Body)
				req.Body = io.NopCloser(bytes.NewReader(body))
				mu.Lock()
				got = append(got, req)
				mu.Unlock()
			}))
			defer rcv.Close()
			body, _ := json.Marshal(map[string]any{"url": rcv.URL, "events": []string{"message.*"}})
			req, _ := http.NewRequest("POST", r.base+"/webhook-endpoints", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer tok")
			req.Header.Set("Content-Type", "application/json")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var ep struct{ Secret string }
			_ = json.NewDecoder(res.Body).Decode(&ep)
			res.Body.Close()
			if res.StatusCode != http.StatusCreated || ep.Secret == "" {
				t.Fatalf("create webhook endpoint: %d", res.StatusCode)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(r.base, "http")+"/ws/sessions?access_token=tok", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.CloseNow()

			envl := eventlog.MustEnvelope(ctx, "tenant-e2e", "s1", pingEvent{N: 1})
			if err := r.app.DB.InTx(ctx, func(tx *sql.Tx) error {
				return eventlog.Append(ctx, tx, eventlog.DomainEvents, envl)
			}); err != nil {
				t.Fatal(err)
			}
			_, data, err := ws.Read(ctx)
			if err != nil {
				t.Fatalf("websocket: %v", err)
			}
			var frame eventlog.Envelope
			if err := json.Unmarshal(data, &frame); err != nil || frame.ID != envl.ID {
				t.Fatalf("websocket frame %s, want event %s", data, envl.ID)
			}

			for {
				mu.Lock()
				n := len(got)
				mu.Unlock()
				if n > 0 {
					break
				}
				if ctx.Err() != nil {
					t.Fatal("the webhook was not delivered")
				}
				time.Sleep(10 * time.Millisecond)
			}
			mu.Lock()
			first := got[0]
			mu.Unlock()
			b, _ := io.ReadAll(first.Body)
			if first.Header.Get(webhook.HeaderEventID) != envl.ID ||
				!webhook.Verify(ep.Secret, first.Header, b, time.Minute, time.Now()) {
				t.Fatalf("webhook delivery: %v %s", first.Header, b)
			}
		})
	}
}
