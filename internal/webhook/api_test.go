package webhook_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/wagate/wagate/internal/store"
	"github.com/wagate/wagate/internal/testenv"
	"github.com/wagate/wagate/internal/webhook"
)

type endpointJSON struct {
	ID             string   `json:"id"`
	URL            string   `json:"url"`
	Events         []string `json:"events"`
	Enabled        bool     `json:"enabled"`
	DisabledReason string   `json:"disabledReason"`
	Secret         string   `json:"secret"`
}

type listJSON[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"nextCursor"`
}

func TestEndpointLifecycle(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			db := testenv.OpenDB(t, d)
			base := apiServer(t, webhook.NewStore(db), webhook.Guard{AllowPrivate: true}) + "/webhook-endpoints"

			var created endpointJSON
			if code := call(t, "POST", base, "tok-a", map[string]any{
				"url": "http://127.0.0.1:9/hook", "events": []string{"message.received", "session.*"},
			}, &created); code != http.StatusCreated {
				t.Fatalf("create: %d", code)
			}
			if created.ID == "" || !strings.HasPrefix(created.Secret, "whsec_") || len(created.Secret) < 40 || !created.Enabled {
				t.Fatalf("create answered %+v, want an id, a generated secret and enabled", created)
			}
			var chosen endpointJSON
			call(t, "POST", base, "tok-a", map[string]any{
				"url": "http://127.0.0.1:9/other", "events": []string{"*"}, "secret": "my-own-secret-1234",
			}, &chosen)
			if chosen.Secret != "my-own-secret-1234" {
				t.Fatalf("a given secret must be kept, got %q", chosen.Secret)
			}

			var got endpointJSON
			if code := call(t, "GET", base+"/"+created.ID, "tok-a", nil, &got); code != 200 || got.URL != "http://127.0.0.1:9/hook" {
				t.Fatalf("get: %d %+v", code, got)
			}
			if got.Secret != "" {
				t.Fatal("the secret is shown only on create")
			}

			t.Run("OtherTenantsSeeNothing", func(t *testing.T) {
				var p problem
				if code := call(t, "GET", base+"/"+created.ID, "tok-b", nil, &p); code != 404 || !strings.HasSuffix(p.Type, "webhook-endpoint-not-found") {
					t.Fatalf("other tenant's get: %d %+v", code, p)
				}
				var l listJSON[endpointJSON]
				call(t, "GET", base, "tok-b", nil, &l)
				if len(l.Items) != 0 {
					t.Fatalf("other tenant lists %d endpoints", len(l.Items))
				}
				for _, method := range []string{"PATCH", "DELETE"} {
					if code := call(t, method, base+"/"+created.ID, "tok-b", map[string]any{"enabled": false}, nil); code != 404 {
						t.Fatalf("other tenant's %s: %d", method, code)
					}
				}
			})

			t.Run("ListIsPaginated", func(t *testing.T) {
				var page1, page2 listJSON[endpointJSON]
				call(t, "GET", base+"?limit=1", "tok-a", nil, &page1)
				if len(page1.Items) != 1 || page1.Items[0].ID != chosen.ID || page1.NextCursor == "" {
					t.Fatalf("page 1: %+v", page1)
				}
				call(t, "GET", base+"?limit=1&cursor="+page1.NextCursor, "tok-a", nil, &page2)
				if len(page2.Items) != 1 || page2.Items[0].ID != created.ID || page2.NextCursor != "" {
					t.Fatalf("page 2: %+v", page2)
				}
				if code := call(t, "GET", base+"?cursor=garbage", "tok-a", nil, nil); code != 400 {
					t.Fatalf("bad cursor: %d, want 400", code)
				}
			})

			t.Run("Patch", func(t *testing.T) {
				var p endpointJSON
				if code := call(t, "PATCH", base+"/"+created.ID, "tok-a", map[string]any{
					"events": []string{"message.*"}, "enabled": false,
				}, &p); code != 200 {
					t.Fatalf("patch: %d", code)
				}
				if p.Enabled || p.Events[0] != "message.*" || p.URL != created.URL || p.DisabledReason == "" {
					t.Fatalf("patched endpoint: %+v", p)
				}
				var again endpointJSON
				call(t, "PATCH", base+"/"+created.ID, "tok-a", map[string]any{"enabled": true}, &again)
				if !again.Enabled || again.DisabledReason != "" || again.Events[0] != "message.*" {
					t.Fatalf("re-enabled endpoint: %+v", again)
				}
			})

			t.Run("BadInputIsA4xxProblem", func(t *testing.T) {
				for name, body := range map[string]map[string]any{
					"NoEvents":     {"url": "http://127.0.0.1/x", "events": []string{}},
					"BadPattern":   {"url": "http://127.0.0.1/x", "events": []string{"message.*.x"}},
					"NotHTTP":      {"url": "ftp://127.0.0.1/x", "events": []string{"*"}},
					"RelativeURL":  {"url": "/x", "events": []string{"*"}},
					"ShortSecret":  {"url": "http://127.0.0.1/x", "events": []string{"*"}, "secret": "short"},
					"MissingURL":   {"events": []string{"*"}},
					"SecretSpaces": {"url": "http://127.0.0.1/x", "events": []string{"*"}, "secret": "has spaces in the secret"},
				} {
					var p problem
					code := call(t, "POST", base, "tok-a", body, &p)
					if code != 400 && code != 422 || p.Status != code || p.Type == "" {
						t.Errorf("%s: got %d %+v, want a 400/422 problem", name, code, p)
					}
				}
				if code := call(t, "PATCH", base+"/"+created.ID, "tok-a", map[string]any{"url": "nope"}, nil); code != 400 {
					t.Errorf("patch with a bad url: %d, want 400", code)
				}
			})

			t.Run("EndpointLimit", func(t *testing.T) {
				for i := 0; i < 3; i++ {
					call(t, "POST", base, "tok-a", map[string]any{"url": "http://127.0.0.1/x", "events": []string{"*"}}, nil)
				}
				var p problem
				if code := call(t, "POST", base, "tok-a", map[string]any{"url": "http://127.0.0.1/x", "events": []string{"*"}}, &p); code != 422 {
					t.Fatalf("sixth endpoint: %d %+v, want 422", code, p)
				}
			})

			t.Run("Delete", func(t *testing.T) {
				if code := call(t, "DELETE", base+"/"+created.ID, "tok-a", nil, nil); code != 204 {
					t.Fatalf("delete: %d", code)
				}
				if code := call(t, "GET", base+"/"+created.ID, "tok-a", nil, nil); code != 404 {
					t.Fatalf("get after delete: %d", code)
				}
				if code := call(t, "GET", base+"/"+created.ID+"/deliveries", "tok-a", nil, nil); code != 404 {
					t.Fatalf("deliveries after delete: %d", code)
				}
			})

			if code := call(t, "GET", base, "", nil, nil); code != 401 {
				t.Fatalf("without credentials: %d, want 401", code)
			}
		})
	}
}

func TestPrivateURLsAreRefusedWithoutOptIn(t *testing.T) {
	t.Parallel()
	db := testenv.OpenDB(t, store.SQLite)
	st := webhook.NewStore(db)
	strict := apiServer(t, st, webhook.Guard{}) + "/webhook-endpoints"
	lax := apiServer(t, st, webhook.Guard{AllowPrivate: true}) + "/webhook-endpoints"
	for _, u := range []string{
		"http://127.0.0.1:8080/hook",
		"http://localhost/hook",
		"http://10.1.2.3/hook",
		"http://172.16.0.1/hook",
		"http://192.168.1.10/hook",
		"http://169.254.169.254/latest/meta-data/",
		"http://100.100.100.200/",
		"http://[::1]/hook",
		"http://[fd00:ec2::254]/",
		"http://[::ffff:127.0.0.1]/hook",
		"http://0.0.0.0/hook",
		"https://[fe80::1]/hook",
	} {
		var p problem
		code := call(t, "POST", strict, "tok-a", map[string]any{"url": u, "events": []string{"*"}}, &p)
		if code != http.StatusUnprocessableEntity || !strings.HasSuffix(p.Type, "webhook-url-forbidden") {
			t.Errorf("%s: got %d %+v, want 422 webhook-url-forbidden", u, code, p)
		}
	}
	var e endpointJSON
	if code := call(t, "POST", lax, "tok-a", map[string]any{"url": "http://127.0.0.1:8080/hook", "events": []string{"*"}}, &e); code != 201 {
		t.Fatalf("with WAGATE_WEBHOOK_ALLOW_PRIVATE: %d, want 201", code)
	}
	var p problem
	if code := call(t, "PATCH", strict+"/"+e.ID, "tok-a", map[string]any{"url": "http://192.168.0.1/x"}, &p); code != 422 {
		t.Fatalf("patching to a private URL: %d %+v, want 422", code, p)
	}
	if code := call(t, "POST", strict, "tok-a", map[string]any{"url": "http://no-such-host.invalid/x", "events": []string{"*"}}, &p); code != 422 {
		t.Fatalf("unresolvable host: %d %+v, want 422", code, p)
	}
}

func TestGuardAddresses(t *testing.T) {
	t.Parallel()
	g := webhook.Guard{}
	for _, c := range []struct {
		url     string
		allowed bool
	}{
		{"https://93.184.216.34/hook", true},
		{"https://8.8.8.8/", true},
		{"https://[2606:4700::1111]/", true},
		{"http://127.5.5.5/", false},
		{"http://100.64.0.1/", false},
		{"http://198.18.0.1/", false},
		{"http://224.0.0.1/", false},
		{"http://255.255.255.255/", false},
		{"http://[64:ff9b::7f00:1]/", false},
		{"http://[2002:7f00:1::]/", false},
		{"http://[::127.0.0.1]/", false},
	} {
		err := g.CheckURL(context.Background(), c.url)
		if (err == nil) != c.allowed {
			t.Errorf("%s: allowed=%v, want %v (%v)", c.url, err == nil, c.allowed, err)
		}
	}
	if err := (webhook.Guard{AllowPrivate: true}).CheckURL(context.Background(), "http://127.0.0.1/"); err != nil {
		t.Errorf("AllowPrivate must let loopback through: %v", err)
	}
}
