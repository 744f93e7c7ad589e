package messaging

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/httpapi"
	"github.com/wagate/wagate/internal/observe"
	"github.com/wagate/wagate/internal/wa"
)

// headerAuth authenticates a test request by its X-Test-Tenant header.
type headerAuth struct{}

func (headerAuth) Authenticate(_ context.Context, r *http.Request) (httpapi.Principal, bool, error) {
	t := r.Header.Get("X-Test-Tenant")
	if t == "" {
		return httpapi.Principal{}, false, nil
	}
	return httpapi.Principal{UserID: t, TenantID: t}, true, nil
}

// api serves the messaging endpoints of a fixture.
func (f *fixture) api() *httptest.Server {
	f.t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httpapi.New(httpapi.Config{Addr: "127.0.0.1:0", WithAPI: true, MaxBodyBytes: 4 << 20, Authenticator: headerAuth{}},
		logger, observe.NewMetrics())
	RegisterHTTP(srv, f.svc)
	ts := httptest.NewServer(srv.Handler())
	f.t.Cleanup(ts.Close)
	return ts
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return m
}

func call(t *testing.T, ts *httptest.Server, tenant, method, path, body string, headers ...string) reply {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if tenant != "" {
		req.Header.Set("X-Test-Tenant", tenant)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}
}

// wantProblem checks a problem+json answer's status and type.
func wantProblem(t *testing.T, r reply, status int, code string) {
	t.Helper()
	if r.status != status || !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("status %d (%s) %s; want %d problem", r.status, r.header.Get("Content-Type"), r.body, status)
	}
	if code != "" {
		if typ, _ := r.json(t)["type"].(string); typ != httpapi.ProblemBaseURI+code {
			t.Fatalf("problem type %q, want %s", typ, code)
		}
	}
}

func TestHTTP(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, f *fixture) {
		ts := f.api()

		t.Run("SendAnswers202WithTheMessage", func(t *testing.T) {
			r := call(t, ts, tenantA, "POST", "/sessions/"+sessionA+"/messages", `{"to":"+15550001111","text":"hi"}`, "Idempotency-Key", "abc")
			if r.status != http.StatusAccepted {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			m := r.json(t)
			var keys []string
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			want := "chatJid content direction id messageId pushName senderJid sessionId status timestamp type"
			if strings.Join(keys, " ") != want {
				t.Fatalf("fields %v, want %s", keys, want)
			}
			if m["status"] != "pending" || m["direction"] != "out" || m["chatJid"] != alice || m["type"] != "text" ||
				m["content"].(map[string]any)["text"] != "hi" || m["sessionId"] != sessionA {
				t.Fatalf("message %v", m)
			}

			again := call(t, ts, tenantA, "POST", "/sessions/"+sessionA+"/messages", `{"text":"hi", "to":"+15550001111"}`, "Idempotency-Key", "abc")
			if again.status != http.StatusAccepted || again.json(t)["id"] != m["id"] || again.header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("replay: %d %s %v", again.status, again.body, again.header)
			}
			other := call(t, ts, tenantA, "POST", "/sessions/"+sessionA+"/messages", `{"to":"+15550001111","text":"bye"}`, "Idempotency-Key", "abc")
			wantProblem(t, other, http.StatusUnprocessableEntity, "idempotency-key-reused")

			got := call(t, ts, tenantA, "GET", "/sessions/"+sessionA+"/messages/"+m["id"].(string), "")
			if got.status != http.StatusOK || got.json(t)["id"] != m["id"] {
				t.Fatalf("get: %d %s", got.status, got.body)
			}
			wantProblem(t, call(t, ts, tenantB, "GET", "/sessions/"+sessionA+"/messages/"+m["id"].(string), ""), 404, "session-not-found")
		})

		t.Run("SendIntoAChat", func(t *testing.T) {
			r := call(t, ts, tenantA, "POST", "/chats/"+url.PathEscape(bob)+"/messages?sessionId="+sessionA,
				`{"location":{"latitude":52.52,"longitude":13.405,"name":"Berlin"}}`)
			if r.status != http.StatusAccepted || r.json(t)["chatJid"] != bob || r.json(t)["type"] != "location" {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			wantProblem(t, call(t, ts, tenantA, "POST", "/chats/"+bob+"/messages?sessionId="+sessionA,
				`{"to":"+15550001111","text":"x"}`), 400, "recipient-mismatch")
		})

		t.Run("BadInputsAreClearProblems", func(t *testing.T) {
			path := "/sessions/" + sessionA + "/messages"
			wantProblem(t, call(t, ts, "", "POST", path, `{"to":"+15550001111","text":"x"}`), 401, "")
			wantProblem(t, call(t, ts, tenantA, "POST", path, `{"to":"not a number","text":"x"}`), 400, "invalid-recipient")
			wantProblem(t, call(t, ts, tenantA, "POST", path, `{"to":"+15550001111"}`), 400, "invalid-message")
			wantProblem(t, call(t, ts, tenantA, "POST", path, `{"to":"+15550001111","text":"x","image":{"url":"https://x/y.png","mimetype":"image/png"}}`), 400, "invalid-message")
			wantProblem(t, call(t, ts, tenantA, "POST", path, `{"to":"+15550001111","image":{"base64":"!!!","mimetype":"image/png"}}`), 400, "invalid-media")
			wantProblem(t, call(t, ts, tenantA, "POST", path, `{"to":"+15550001111","image":{"url":"ftp://x/y","mimetype":"image/png"}}`), 400, "invalid-media")
			wantProblem(t, call(t, ts, tenantA, "POST", path, `{"to":"+15550001111","video":{"url":"https://x/y","mimetype":"image/png"}}`), 400, "invalid-media")
			big := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 1<<20+1))
			wantProblem(t, call(t, ts, tenantA, "POST", path, `{"to":"+15550001111","document":{"base64":"`+big+`","mimetype":"application/pdf"}}`), 413, "media-too-large")
			wantProblem(t, call(t, ts, tenantA, "POST", path, `{"to":"+15550001111","text":`), 400, "")
			wantProblem(t, call(t, ts, tenantA, "POST", path, `{"to":"+15550001111","text":"x"}`, "Idempotency-Key", "bad key"), 400, "invalid-idempotency-key")
			wantProblem(t, call(t, ts, tenantA, "POST", "/sessions/unknown/messages", `{"to":"+15550001111","text":"x"}`), 404, "session-not-found")
			wantProblem(t, call(t, ts, tenantA, "GET", "/chats", ""), 422, "")
			wantProblem(t, call(t, ts, tenantA, "GET", "/chats?sessionId="+sessionA+"&limit=501", ""), 422, "")
			wantProblem(t, call(t, ts, tenantA, "GET", "/chats?sessionId="+sessionA+"&cursor=zzz", ""), 400, "invalid-cursor")
			wantProblem(t, call(t, ts, tenantA, "GET", "/chats/nope/messages?sessionId="+sessionA, ""), 400, "invalid-recipient")
			wantProblem(t, call(t, ts, tenantA, "POST", "/chats/"+bob+"/read?sessionId="+sessionA, ""), 404, "chat-not-found")
			wantProblem(t, call(t, ts, tenantA, "GET", "/sessions/"+sessionA+"/messages/nope", ""), 404, "message-not-found")
		})

		t.Run("ChatsHistoryAndRead", func(t *testing.T) {
			f.ingest(sessionA, wa.MessageReceived{Message: inbound("15550003333@s.whatsapp.net", "HX1", "first", f.clock.Now().Add(time.Hour))})
			f.ingest(sessionA, wa.MessageReceived{Message: inbound("15550003333@s.whatsapp.net", "HX2", "second", f.clock.Now().Add(time.Hour+time.Second))})
			chats := call(t, ts, tenantA, "GET", "/chats?sessionId="+sessionA+"&limit=1", "").json(t)
			items := chats["items"].([]any)
			first := items[0].(map[string]any)
			if len(items) != 1 || first["chatJid"] != "15550003333@s.whatsapp.net" || first["unreadCount"] != float64(2) || first["lastMessageId"] != "HX2" {
				t.Fatalf("chats %v", chats)
			}
			if _, ok := first["lastMessageTs"]; !ok {
				t.Fatalf("chat without lastMessageTs: %v", first)
			}
			page := call(t, ts, tenantA, "GET", "/chats/+15550003333/messages?sessionId="+sessionA+"&limit=1", "").json(t)
			if msgs := page["items"].([]any); len(msgs) != 1 || msgs[0].(map[string]any)["messageId"] != "HX2" || page["nextCursor"] == nil {
				t.Fatalf("page 1 %v", page)
			}
			page2 := call(t, ts, tenantA, "GET", "/chats/+15550003333/messages?sessionId="+sessionA+"&limit=1&cursor="+page["nextCursor"].(string), "").json(t)
			if msgs := page2["items"].([]any); len(msgs) != 1 || msgs[0].(map[string]any)["messageId"] != "HX1" || page2["nextCursor"] != nil {
				t.Fatalf("page 2 %v", page2)
			}
			read := call(t, ts, tenantA, "POST", "/chats/15550003333@s.whatsapp.net/read?sessionId="+sessionA, "")
			if read.status != 200 || read.json(t)["unreadCount"] != float64(0) {
				t.Fatalf("read: %d %s", read.status, read.body)
			}
			if cmds := ofType(f.next(eventlog.SessionCommands), CommandMarkRead); len(cmds) != 1 {
				t.Fatalf("%d mark-read commands", len(cmds))
			}
		})

		t.Run("MediaIsStreamedSafely", func(t *testing.T) {
			for _, tc := range []struct{ kind, mimetype, disposition string }{
				{"image", "image/png", "inline"},
				{"document", "text/html", "attachment"},
			} {
				body := `{"to":"+15550001111","` + tc.kind + `":{"base64":"` + base64.StdEncoding.EncodeToString([]byte("<b>hi</b>")) +
					`","mimetype":"` + tc.mimetype + `","filename":"f.x"}}`
				m := call(t, ts, tenantA, "POST", "/sessions/"+sessionA+"/messages", body).json(t)
				r := call(t, ts, tenantA, "GET", "/sessions/"+sessionA+"/messages/"+m["id"].(string)+"/media", "")
				if r.status != 200 || string(r.body) != "<b>hi</b>" || r.header.Get("Content-Type") != tc.mimetype ||
					!strings.HasPrefix(r.header.Get("Content-Disposition"), tc.disposition) ||
					!strings.Contains(r.header.Get("Content-Security-Policy"), "sandbox") {
					t.Fatalf("%s: %d %q %v", tc.kind, r.status, r.body, r.header)
				}
			}
			wantProblem(t, call(t, ts, tenantB, "GET", "/sessions/"+sessionA+"/messages/x/media", ""), 404, "")
		})

		t.Run("OpenAPIDescribesTheEndpoints", func(t *testing.T) {
			doc := string(call(t, ts, "", "GET", "/openapi.json", "").body)
			for _, p := range []string{`"/sessions/{id}/messages"`, `"/chats/{jid}/messages"`, `"/chats"`, `"/chats/{jid}/read"`, `"/sessions/{id}/messages/{messageId}/media"`} {
				if !strings.Contains(doc, p) {
					t.Fatalf("openapi.json lacks %s", p)
				}
			}
		})
	})
}
