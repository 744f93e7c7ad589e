package httpapi_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/wagate/wagate/internal/apperr"
	"github.com/wagate/wagate/internal/httpapi"
)

type thingInput struct {
	ID    string `path:"id" maxLength:"8"`
	Limit int    `query:"limit" minimum:"1" maximum:"100" default:"10"`
}

type thingOutput struct {
	Body struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
}

type createThingInput struct {
	Body struct {
		Name string `json:"name" minLength:"1"`
	}
}

// registerThings adds a small Huma API like the contexts register theirs.
func registerThings(s *httpapi.Server) {
	huma.Register(s.API, huma.Operation{
		OperationID: "get-thing", Method: http.MethodGet, Path: "/things/{id}",
		Summary: "Get a thing", Tags: []string{"things"},
	}, func(ctx context.Context, in *thingInput) (*thingOutput, error) {
		if in.ID == "missing" {
			return nil, apperr.NotFound("thing-not-found", "thing not found")
		}
		if in.ID == "broken" {
			return nil, errors.New("pq: password authentication failed for user wagate_secret")
		}
		if in.ID == "panic" {
			panic("secret panic value")
		}
		out := &thingOutput{}
		out.Body.ID, out.Body.Name = in.ID, "thing "+in.ID
		return out, nil
	})
	huma.Register(s.API, huma.Operation{
		OperationID: "create-thing", Method: http.MethodPost, Path: "/things",
		Summary: "Create a thing", DefaultStatus: http.StatusCreated,
		Security: []map[string][]string{{"bearer": {}}, {"apiKey": {}}},
	}, func(ctx context.Context, in *createThingInput) (*thingOutput, error) {
		if _, err := httpapi.PrincipalFrom(ctx); err != nil {
			return nil, err
		}
		out := &thingOutput{}
		out.Body.ID, out.Body.Name = "t1", in.Body.Name
		return out, nil
	})
}

func TestHealthzAnswersWithTheRole(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Config{Role: "session-worker"}, nil)
	r := get(t, s.URL+"/healthz")
	if r.Status != http.StatusOK {
		t.Fatalf("status %d", r.Status)
	}
	if body := r.json(t); body["status"] != "ok" || body["role"] != "session-worker" {
		t.Errorf("body %v", body)
	}
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	var dbDown atomic.Bool
	s := newServer(t, httpapi.Config{}, func(s *httpapi.Server) {
		s.AddCheck("database", func(context.Context) error {
			if dbDown.Load() {
				return errors.New("dial tcp 10.0.0.7:5432: user=admin password=hunter2 refused")
			}
			return nil
		})
		s.AddCheck("redis", func(context.Context) error { return nil })
	})

	t.Run("ReadyWhenEveryCheckPasses", func(t *testing.T) {
		r := get(t, s.URL+"/readyz")
		if r.Status != http.StatusOK {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		checks, _ := r.json(t)["checks"].(map[string]any)
		if checks["database"] != "ok" || checks["redis"] != "ok" {
			t.Errorf("checks %v", checks)
		}
	})
	t.Run("UnavailableNamesTheFailingDependencyOnly", func(t *testing.T) {
		dbDown.Store(true)
		defer dbDown.Store(false)
		r := get(t, s.URL+"/readyz")
		p := assertProblem(t, r, http.StatusServiceUnavailable, "not-ready")
		checks, _ := p["checks"].(map[string]any)
		if checks["database"] != "unavailable" || checks["redis"] != "ok" {
			t.Errorf("checks %v", checks)
		}
		if !strings.Contains(p["detail"].(string), "database") {
			t.Errorf("detail does not name the dependency: %v", p["detail"])
		}
		if strings.Contains(r.Body, "hunter2") || strings.Contains(r.Body, "10.0.0.7") {
			t.Errorf("probe leaks the error text: %s", r.Body)
		}
		if !strings.Contains(s.Logs.String(), "hunter2") {
			t.Error("the failure reason must reach the log")
		}
	})
}

// TestReadyzBoundsAHangingCheck: a dependency that never answers makes the
// probe fail within its timeout instead of hanging the caller.
func TestReadyzBoundsAHangingCheck(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Config{}, func(s *httpapi.Server) {
		s.AddCheck("redis", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
		s.AddCheck("database", func(context.Context) error { return nil })
	})
	r := get(t, s.URL+"/readyz")
	p := assertProblem(t, r, http.StatusServiceUnavailable, "not-ready")
	if checks := p["checks"].(map[string]any); checks["redis"] != "unavailable" || checks["database"] != "ok" {
		t.Errorf("checks %v", checks)
	}
}

func TestOpenAPIDocumentIsGenerated31(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Config{WithAPI: true, Version: "1.2.3"}, registerThings)
	r := get(t, s.URL+"/openapi.json")
	if r.Status != http.StatusOK {
		t.Fatalf("status %d", r.Status)
	}
	doc := r.json(t)
	if doc["openapi"] != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", doc["openapi"])
	}
	if info := doc["info"].(map[string]any); info["version"] != "1.2.3" {
		t.Errorf("info.version = %v", info["version"])
	}
	paths := doc["paths"].(map[string]any)
	thing, ok := paths["/things/{id}"].(map[string]any)
	if !ok || thing["get"] == nil {
		t.Fatalf("the registered operation is missing from paths: %v", paths)
	}
	if op := thing["get"].(map[string]any); op["operationId"] != "get-thing" {
		t.Errorf("operationId = %v", op["operationId"])
	}
	schemes := doc["components"].(map[string]any)["securitySchemes"].(map[string]any)
	if schemes["bearer"] == nil || schemes["apiKey"] == nil {
		t.Errorf("security schemes %v", schemes)
	}
	// Generated from the Go types: the output struct became a schema.
	if !strings.Contains(r.Body, `"ThingOutputBody"`) {
		t.Errorf("no schema generated for the handler's output type")
	}
}

func TestDocsPageRendersHTML(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Config{WithAPI: true}, registerThings)
	r := get(t, s.URL+"/docs")
	if r.Status != http.StatusOK {
		t.Fatalf("status %d", r.Status)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type = %q", ct)
	}
	for _, want := range []string{"<!doctype html>", "/things/{id}", "Get a thing", "OpenAPI 3.1.0", "</html>"} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("docs page lacks %q", want)
		}
	}
}

func TestRolesWithoutAPIServeNoDocuments(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Config{Role: "outbox-dispatcher"}, nil)
	for _, path := range []string{"/openapi.json", "/docs"} {
		assertProblem(t, get(t, s.URL+path), http.StatusNotFound, "not-found")
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if r := get(t, s.URL+path); r.Status != http.StatusOK {
			t.Errorf("%s: status %d", path, r.Status)
		}
	}
}

// TestShutdownFinishesInFlightRequests starts a slow request, begins
// Shutdown while it runs, and checks the request still completes with 200
// while new connections are refused.
func TestShutdownFinishesInFlightRequests(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{})
	release := make(chan struct{})
	s := newServer(t, httpapi.Config{}, func(s *httpapi.Server) {
		s.Mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			<-release
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "finished")
		})
	})

	type result struct {
		r   response
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := http.Get(s.URL + "/slow")
		if err != nil {
			done <- result{err: err}
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		done <- result{r: response{Status: res.StatusCode, Body: string(b)}, err: err}
	}()
	<-entered

	shutdownErr := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shutdownErr <- s.Shutdown(ctx)
	}()
	// Shutdown has begun once the listener refuses new connections.
	eventually(t, "the listener to close", func() bool {
		c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	select {
	case err := <-shutdownErr:
		t.Fatalf("Shutdown returned (%v) while a request was in flight", err)
	default:
	}

	close(release)
	res := <-done
	if res.err != nil {
		t.Fatalf("in-flight request failed: %v", res.err)
	}
	if res.r.Status != http.StatusOK || res.r.Body != "finished" {
		t.Errorf("in-flight request got %d %q, want 200 finished", res.r.Status, res.r.Body)
	}
	if err := <-shutdownErr; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// fixedAuth accepts the bearer token "good" and refuses "revoked".
type fixedAuth struct{}

func (fixedAuth) Authenticate(ctx context.Context, r *http.Request) (httpapi.Principal, bool, error) {
	switch r.Header.Get("Authorization") {
	case "":
		return httpapi.Principal{}, false, nil
	case "Bearer good":
		return httpapi.Principal{UserID: "u1", TenantID: "u1"}, true, nil
	case "Bearer revoked":
		return httpapi.Principal{}, false, apperr.Unauthorized("token-revoked", "token revoked")
	default:
		return httpapi.Principal{}, false, errors.New("token store down")
	}
}

func TestPrincipalFrom(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Config{WithAPI: true, Authenticator: fixedAuth{}}, registerThings)
	post := func(auth string) response {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/things", strings.NewReader(`{"name":"x"}`))
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		return do(t, req)
	}
	t.Run("ValidCredentialsReachTheHandler", func(t *testing.T) {
		if r := post("Bearer good"); r.Status != http.StatusCreated {
			t.Errorf("status %d: %s", r.Status, r.Body)
		}
	})
	t.Run("MissingCredentialsAre401", func(t *testing.T) {
		r := post("")
		assertProblem(t, r, http.StatusUnauthorized, "unauthenticated")
		if r.Header.Get("WWW-Authenticate") == "" {
			t.Error("401 without WWW-Authenticate")
		}
	})
	t.Run("RefusedCredentialsKeepTheirReason", func(t *testing.T) {
		assertProblem(t, post("Bearer revoked"), http.StatusUnauthorized, "token-revoked")
	})
	t.Run("AuthenticatorFailureIsA401NotALeak", func(t *testing.T) {
		r := post("Bearer other")
		assertProblem(t, r, http.StatusUnauthorized, "unauthenticated")
		if strings.Contains(r.Body, "token store") {
			t.Errorf("leaks: %s", r.Body)
		}
	})
	t.Run("NoPrincipalOutsideARequest", func(t *testing.T) {
		if _, err := httpapi.PrincipalFrom(context.Background()); !errors.Is(err, httpapi.ErrUnauthenticated) {
			t.Errorf("got %v", err)
		}
		ctx := httpapi.WithPrincipal(context.Background(), httpapi.Principal{UserID: "u", TenantID: "u"})
		if p, err := httpapi.PrincipalFrom(ctx); err != nil || p.TenantID != "u" {
			t.Errorf("got %v, %v", p, err)
		}
	})
}
