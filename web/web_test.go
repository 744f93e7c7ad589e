package web_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/wagate/wagate/web"
)

func newServer(t *testing.T, cfg web.Config) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	if err := web.Register(mux, cfg, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

func TestServesThePage(t *testing.T) {
	t.Parallel()
	srv := newServer(t, web.Config{Simulator: true, MailLogged: true, Version: "1.2.3"})

	t.Run("IndexCarriesServerFactsAndLocksDownSources", func(t *testing.T) {
		t.Parallel()
		res, body := get(t, srv.URL+"/")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("status %d", res.StatusCode)
		}
		if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("content type %q", ct)
		}
		for _, want := range []string{`data-simulator="true"`, `data-mail-logged="true"`, `data-version="1.2.3"`, `src="/assets/app.js"`} {
			if !strings.Contains(body, want) {
				t.Errorf("page lacks %s", want)
			}
		}
		csp := res.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("CSP %q lacks %s", csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") {
			t.Errorf("CSP allows inline code: %q", csp)
		}
		if res.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("Referrer-Policy %q", res.Header.Get("Referrer-Policy"))
		}
	})

	t.Run("SimulatorOffIsRenderedAsFalse", func(t *testing.T) {
		t.Parallel()
		off := newServer(t, web.Config{})
		_, body := get(t, off.URL+"/")
		if !strings.Contains(body, `data-simulator="false"`) || !strings.Contains(body, `data-version="dev"`) {
			t.Errorf("page does not say the simulator is off:\n%s", body)
		}
	})

	t.Run("AssetsHaveTypesAndRevalidate", func(t *testing.T) {
		t.Parallel()
		for path, ct := range map[string]string{
			"/assets/app.js":      "text/javascript; charset=utf-8",
			"/assets/style.css":   "text/css; charset=utf-8",
			"/assets/favicon.svg": "image/svg+xml",
		} {
			res, body := get(t, srv.URL+path)
			if res.StatusCode != http.StatusOK || body == "" {
				t.Fatalf("%s: status %d", path, res.StatusCode)
			}
			if got := res.Header.Get("Content-Type"); got != ct {
				t.Errorf("%s: content type %q, want %q", path, got, ct)
			}
			etag := res.Header.Get("ETag")
			if etag == "" || res.Header.Get("Cache-Control") != "no-cache" {
				t.Fatalf("%s: ETag %q Cache-Control %q", path, etag, res.Header.Get("Cache-Control"))
			}
			again, _ := get(t, srv.URL+path, "If-None-Match", etag)
			if again.StatusCode != http.StatusNotModified {
				t.Errorf("%s with its ETag: status %d, want 304", path, again.StatusCode)
			}
		}
	})

	t.Run("UnknownAssetIsAProblem", func(t *testing.T) {
		t.Parallel()
		res, body := get(t, srv.URL+"/assets/nope.js")
		if res.StatusCode != http.StatusNotFound || !strings.Contains(res.Header.Get("Content-Type"), "application/problem+json") {
			t.Fatalf("status %d type %q", res.StatusCode, res.Header.Get("Content-Type"))
		}
		if !strings.Contains(body, "asset-not-found") {
			t.Errorf("problem %s lacks its code", body)
		}
	})

	t.Run("OnlyTheRootIsThePage", func(t *testing.T) {
		t.Parallel()
		res, _ := get(t, srv.URL+"/sessions-page")
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("GET /sessions-page: status %d, want 404", res.StatusCode)
		}
	})
}

var importRE = regexp.MustCompile(`(?m)^\s*import\s+(?:[^'"]*\s+from\s+)?['"](\.[^'"]+)['"]`)

// TestModuleGraphResolves follows every relative import from app.js, so a
// renamed or missing module fails here rather than as a blank page.
func TestModuleGraphResolves(t *testing.T) {
	t.Parallel()
	srv := newServer(t, web.Config{})
	seen := map[string]bool{}
	queue := []string{"/assets/app.js"}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		res, body := get(t, srv.URL+p)
		if res.StatusCode != http.StatusOK {
			t.Errorf("module %s: status %d", p, res.StatusCode)
			continue
		}
		dir := p[:strings.LastIndex(p, "/")+1]
		for _, m := range importRE.FindAllStringSubmatch(body, -1) {
			queue = append(queue, resolve(dir, m[1]))
		}
	}
	if len(seen) < 8 {
		t.Errorf("followed only %d modules: %v", len(seen), seen)
	}
}

func resolve(dir, rel string) string {
	parts := strings.Split(strings.TrimSuffix(dir, "/"), "/")
	for _, seg := range strings.Split(rel, "/") {
		switch seg {
		case ".":
		case "..":
			parts = parts[:len(parts)-1]
		default:
			parts = append(parts, seg)
		}
	}
	return strings.Join(parts, "/")
}
