package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/wagate/wagate/internal/apperr"
	"github.com/wagate/wagate/internal/httpapi"
	"github.com/wagate/wagate/internal/observe"
)

func TestMetricsRecordRequestsByRoutePattern(t *testing.T) {
	t.Parallel()
	// An authenticator in the chain copies the request; the route must
	// still be found (it used to be recorded as "unmatched").
	s := newServer(t, httpapi.Config{WithAPI: true, Authenticator: fixedAuth{}}, registerThings)
	get(t, s.URL+"/things/a")
	get(t, s.URL+"/things/b")
	get(t, s.URL+"/things/missing")
	get(t, s.URL+"/no/such/path")

	// What Prometheus scrapes: requests by route pattern, method and status,
	// a duration histogram, and the Go runtime and process collectors.
	body := get(t, s.URL+"/metrics").Body
	for _, want := range []string{
		`wagate_http_requests_total{method="GET",route="/things/{id}",status="200"} 2`,
		`wagate_http_requests_total{method="GET",route="/things/{id}",status="404"} 1`,
		`wagate_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`wagate_http_request_duration_seconds_count{method="GET",route="/things/{id}"} 3`,
		`wagate_http_request_duration_seconds_bucket{method="GET",route="/things/{id}",le="+Inf"} 3`,
		"go_goroutines ",
		"process_resident_memory_bytes ",
		"wagate_http_requests_in_flight ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, "/things/a") || strings.Contains(body, "/no/such/path") {
		t.Error("raw paths leaked into metric labels")
	}
}

func TestNotFoundAndMethodNotAllowedAreProblems(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Config{WithAPI: true}, registerThings)

	t.Run("UnknownPathIs404", func(t *testing.T) {
		p := assertProblem(t, get(t, s.URL+"/nope"), http.StatusNotFound, "not-found")
		if p["instance"] != "/nope" {
			t.Errorf("instance = %v", p["instance"])
		}
	})
	t.Run("WrongMethodIs405WithAllow", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodDelete, s.URL+"/healthz", nil)
		r := do(t, req)
		assertProblem(t, r, http.StatusMethodNotAllowed, "method-not-allowed")
		if allow := r.Header.Get("Allow"); !strings.Contains(allow, "GET") {
			t.Errorf("Allow = %q", allow)
		}
	})
	t.Run("WrongMethodOnHumaRouteIs405", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPut, s.URL+"/things/x", nil)
		assertProblem(t, do(t, req), http.StatusMethodNotAllowed, "method-not-allowed")
	})
	t.Run("DomainNotFoundKeepsItsCode", func(t *testing.T) {
		p := assertProblem(t, get(t, s.URL+"/things/missing"), http.StatusNotFound, "thing-not-found")
		if p["detail"] != "thing not found" {
			t.Errorf("detail = %v", p["detail"])
		}
	})
	t.Run("ValidationFailureIs422", func(t *testing.T) {
		p := assertProblem(t, get(t, s.URL+"/things/x?limit=1000"), http.StatusUnprocessableEntity, "validation-failed")
		if errs, _ := p["errors"].([]any); len(errs) == 0 {
			t.Error("validation problem lists no errors")
		}
	})
	t.Run("MalformedJSONIsA4xxProblem", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/things", strings.NewReader(`{"name":`))
		req.Header.Set("Content-Type", "application/json")
		r := do(t, req)
		if r.Status < 400 || r.Status >= 500 {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("Content-Type = %q", ct)
		}
	})
}

func TestFailuresAreProblemsThatLeakNothing(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Config{WithAPI: true}, func(s *httpapi.Server) {
		registerThings(s)
		s.Mux.HandleFunc("GET /plain-panic", func(http.ResponseWriter, *http.Request) {
			panic(errors.New("secret panic value"))
		})
		s.Mux.HandleFunc("GET /plain-error", func(w http.ResponseWriter, r *http.Request) {
			httpapi.WriteError(w, r, discardLogger(), errors.New("secret panic value in a raw error"))
		})
	})
	for _, path := range []string{"/plain-panic", "/things/panic", "/things/broken", "/plain-error"} {
		t.Run(path, func(t *testing.T) {
			r := get(t, s.URL+path)
			p := assertProblem(t, r, http.StatusInternalServerError, "internal")
			if p["detail"] != "an unexpected error occurred" {
				t.Errorf("detail = %v", p["detail"])
			}
			if strings.Contains(r.Body, "secret") || strings.Contains(r.Body, "goroutine") {
				t.Errorf("500 leaks internals: %s", r.Body)
			}
		})
	}
	// The server survives and the operator can see what happened.
	if r := get(t, s.URL+"/healthz"); r.Status != http.StatusOK {
		t.Errorf("healthz after panics: %d", r.Status)
	}
	logs := s.Logs.String()
	if !strings.Contains(logs, "secret panic value") || !strings.Contains(logs, "wagate_secret") {
		t.Error("the real error must be logged")
	}
	if !strings.Contains(logs, "runtime/debug.Stack") && !strings.Contains(logs, "goroutine ") {
		t.Error("a panic must be logged with its stack")
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func fmtWrap(err error) error { return fmt.Errorf("load thing: %w", err) }

func TestPanicAfterTheResponseStartedAbortsIt(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Config{}, func(s *httpapi.Server) {
		s.Mux.HandleFunc("GET /half", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, strings.Repeat("x", 100))
			w.(http.Flusher).Flush()
			panic("midway")
		})
	})
	res, err := http.Get(s.URL + "/half")
	if err != nil {
		return // the connection was aborted before the headers: fine
	}
	defer res.Body.Close()
	if _, err := io.ReadAll(res.Body); err == nil {
		t.Error("a response cut by a panic must not read as complete")
	}
}

func TestBodyLimitIs413(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Config{WithAPI: true, MaxBodyBytes: 64, Authenticator: fixedAuth{}}, func(s *httpapi.Server) {
		registerThings(s)
		s.Mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
			if _, err := io.ReadAll(r.Body); err != nil {
				httpapi.WriteError(w, r, nil, err)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
	})
	big := `{"name":"` + strings.Repeat("n", 200) + `"}`
	small := `{"name":"ok"}`
	send := func(path, body string, chunked bool) response {
		var rd io.Reader = strings.NewReader(body)
		if chunked {
			rd = io.MultiReader(rd) // hides the length: Transfer-Encoding: chunked
		}
		req, _ := http.NewRequest(http.MethodPost, s.URL+path, rd)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer good")
		return do(t, req)
	}
	for _, c := range []struct {
		name, path string
		chunked    bool
	}{
		{"DeclaredLengthOnHumaRoute", "/things", false},
		{"ChunkedOnHumaRoute", "/things", true},
		{"DeclaredLengthOnPlainRoute", "/upload", false},
		{"ChunkedOnPlainRoute", "/upload", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			assertProblem(t, send(c.path, big, c.chunked), http.StatusRequestEntityTooLarge, "body-too-large")
			if r := send(c.path, small, c.chunked); r.Status >= 400 {
				t.Errorf("a body under the limit was refused: %d %s", r.Status, r.Body)
			}
		})
	}
}

func TestOperationWithLargerBodyLimitIsNotCutShort(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Config{WithAPI: true, MaxBodyBytes: 64, Authenticator: fixedAuth{}}, func(s *httpapi.Server) {
		registerThings(s)
		// Like a send with inline media: this one operation accepts more
		// than the server-wide limit.
		huma.Register(s.API, huma.Operation{
			OperationID: "create-big-thing", Method: http.MethodPost, Path: "/big-things",
			MaxBodyBytes: 2 << 20, DefaultStatus: http.StatusCreated,
		}, func(ctx context.Context, in *createThingInput) (*thingOutput, error) {
			out := &thingOutput{}
			out.Body.ID, out.Body.Name = "b1", in.Body.Name
			return out, nil
		})
	})
	post := func(path, body string) response {
		req, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer good")
		return do(t, req)
	}
	medium := `{"name":"` + strings.Repeat("n", 1<<20+1000) + `"}`
	if r := post("/big-things", medium); r.Status != http.StatusCreated {
		t.Errorf("a body under the operation's own limit was refused: %d %s", r.Status, r.Body)
	}
	assertProblem(t, post("/things", medium), http.StatusRequestEntityTooLarge, "body-too-large")
	assertProblem(t, post("/big-things", `{"name":"`+strings.Repeat("n", 3<<20)+`"}`), http.StatusRequestEntityTooLarge, "body-too-large")
}

func TestRequestIDIsEchoedAndLogged(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Config{}, nil)
	hex16 := regexp.MustCompile(`^[0-9a-f]{16}$`)

	t.Run("ClientIDIsKept", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/healthz", nil)
		req.Header.Set("X-Request-Id", "client-req-42")
		if got := do(t, req).Header.Get("X-Request-Id"); got != "client-req-42" {
			t.Errorf("X-Request-Id = %q", got)
		}
		if !logged(t, s, "client-req-42", "/healthz") {
			t.Errorf("no access log line carries requestId client-req-42:\n%s", s.Logs)
		}
	})
	t.Run("MissingIDIsGenerated", func(t *testing.T) {
		id := get(t, s.URL+"/readyz").Header.Get("X-Request-Id")
		if !hex16.MatchString(id) {
			t.Fatalf("generated X-Request-Id = %q", id)
		}
		if !logged(t, s, id, "/readyz") {
			t.Errorf("no access log line carries the generated id %s", id)
		}
	})
	t.Run("UnsafeIDIsReplaced", func(t *testing.T) {
		for _, bad := range []string{"has space", strings.Repeat("a", 65)} {
			req, _ := http.NewRequest(http.MethodGet, s.URL+"/healthz", nil)
			req.Header.Set("X-Request-Id", bad)
			if got := do(t, req).Header.Get("X-Request-Id"); !hex16.MatchString(got) {
				t.Errorf("X-Request-Id %q came back as %q", bad, got)
			}
		}
	})
}

// logged reports whether an access log line for path carries requestId id.
func logged(t *testing.T, s *testServer, id, path string) bool {
	t.Helper()
	for _, rec := range s.Logs.records(t) {
		if rec["msg"] == "http request" && rec["requestId"] == id && rec["path"] == path {
			return true
		}
	}
	return false
}

func TestHandlerLogLinesCarryTheRequestID(t *testing.T) {
	t.Parallel()
	logs := &logBuffer{}
	logger := observe.NewLogger(logs, 0, "json")
	s := httpapi.New(httpapi.Config{Addr: "127.0.0.1:0"}, logger, observe.NewMetrics())
	s.Mux.HandleFunc("GET /work", func(w http.ResponseWriter, r *http.Request) {
		logger.InfoContext(r.Context(), "doing work")
		w.WriteHeader(http.StatusNoContent)
	})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.Addr()+"/work", nil)
	req.Header.Set("X-Request-Id", "trace-me")
	do(t, req)
	found := false
	for _, rec := range logs.records(t) {
		if rec["msg"] == "doing work" {
			found = rec["requestId"] == "trace-me"
		}
	}
	if !found {
		t.Errorf("the handler's own log line lacks requestId:\n%s", logs)
	}
}

func TestServerSpanIsNamedByRoutePattern(t *testing.T) {
	t.Parallel()
	// observe.SetupTracing installs the W3C propagator in every process.
	otel.SetTextMapPropagator(propagation.TraceContext{})
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	s := newServer(t, httpapi.Config{WithAPI: true, TracerProvider: tp}, registerThings)

	get(t, s.URL+"/healthz")
	get(t, s.URL+"/things/abc")
	get(t, s.URL+"/nowhere")

	// A caller's W3C trace context becomes the span's parent.
	parent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/healthz", nil)
	propagation.TraceContext{}.Inject(trace.ContextWithSpanContext(context.Background(), parent), propagation.HeaderCarrier(req.Header))
	do(t, req)

	eventually(t, "four ended spans", func() bool { return len(rec.Ended()) >= 4 })
	spans := rec.Ended()
	wantNames := []string{"GET /healthz", "GET /things/{id}", "GET", "GET /healthz"}
	for i, want := range wantNames {
		sp := spans[i]
		if sp.Name() != want {
			t.Errorf("span %d name = %q, want %q", i, sp.Name(), want)
		}
		if sp.SpanKind() != trace.SpanKindServer {
			t.Errorf("span %d kind = %v, want server", i, sp.SpanKind())
		}
	}
	attrs := map[string]string{}
	for _, kv := range spans[1].Attributes() {
		attrs[string(kv.Key)] = kv.Value.Emit()
	}
	if attrs["http.route"] != "/things/{id}" || attrs["http.response.status_code"] != "200" || attrs["http.request.method"] != "GET" {
		t.Errorf("span attributes %v", attrs)
	}
	if got := spans[3].Parent(); got.TraceID() != parent.TraceID() || got.SpanID() != parent.SpanID() {
		t.Errorf("incoming traceparent ignored: parent %v", got)
	}
}

func TestProblemForMapsEveryKind(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err    error
		status int
	}{
		{apperr.Invalid("bad", "bad"), 400},
		{apperr.Unauthorized("unauth", "who"), 401},
		{apperr.Forbidden("nope", "nope"), 403},
		{apperr.NotFound("gone", "not here"), 404},
		{&apperr.Error{Kind: apperr.KindMethodNotAllowed, Code: "m", Message: "m"}, 405},
		{apperr.Conflict("dup", "dup"), 409},
		{apperr.Gone("old", "old"), 410},
		{apperr.TooLarge("big", "big"), 413},
		{apperr.Unprocessable("semantic", "semantic"), 422},
		{apperr.RateLimited("slow", "slow down", 7), 429},
		{apperr.Unavailable("later", "later"), 503},
		{errors.New("raw"), 500},
		{&http.MaxBytesError{Limit: 1}, 413},
	}
	for _, c := range cases {
		status, p := httpapi.ProblemFor(context.Background(), discardLogger(), c.err)
		if status != c.status || p.Status != c.status {
			t.Errorf("%v: status %d/%d, want %d", c.err, status, p.Status, c.status)
		}
		if ae, ok := apperr.As(c.err); ok {
			if p.Type != httpapi.ProblemBaseURI+ae.Code || p.Detail != ae.Message {
				t.Errorf("%v: type %q detail %q", c.err, p.Type, p.Detail)
			}
		}
	}
	_, p := httpapi.ProblemFor(context.Background(), discardLogger(), apperr.RateLimited("slow", "slow down", 7))
	if p.GetHeaders().Get("Retry-After") != "7" {
		t.Errorf("Retry-After = %q", p.GetHeaders().Get("Retry-After"))
	}
	_, p = httpapi.ProblemFor(context.Background(), discardLogger(), fmtWrap(apperr.NotFound("x", "x")))
	if p.Status != 404 {
		t.Errorf("a wrapped classified error keeps its kind, got %d", p.Status)
	}
}
