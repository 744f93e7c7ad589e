package httpapi

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/wagate/wagate/internal/apperr"
	"github.com/wagate/wagate/internal/observe"
)

// requestID takes X-Request-Id from the client when it is sane, or makes one,
// and puts it in the context (every log line of the request carries it) and
// the response.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 64 || strings.ContainsAny(id, " \t\r\n") {
			b := make([]byte, 8)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(observe.WithRequestID(r.Context(), id)))
	})
}

// statusRecorder remembers the status and size of a response. It passes
// Hijack and Flush through so WebSocket upgrades and streaming keep working.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := s.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("response writer cannot hijack")
	}
	if s.status == 0 {
		s.status = http.StatusSwitchingProtocols
	}
	return h.Hijack()
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// tracerName is the instrumentation scope of the server spans.
const tracerName = "github.com/wagate/wagate/internal/httpapi"

// routeKey holds a *string the innermost middleware fills with the matched
// route pattern. The outer middleware cannot read r.Pattern itself: every
// r.WithContext in between makes a copy, and ServeMux sets the pattern on
// the copy it receives.
type routeKey struct{}

// loggerKey carries the server's logger to code that only sees a context
// (Huma's error constructor, the body limit, the 404 handler).
type loggerKey struct{}

func loggerFrom(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// instrument logs one line per request, records metrics by route pattern and
// opens a server span named after the route. The query string is never
// logged: it may hold an access token.
func instrument(logger *slog.Logger, m *observe.Metrics, tp trace.TracerProvider, next http.Handler) http.Handler {
	tracer := tp.Tracer(tracerName)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		pattern := new(string)
		ctx = context.WithValue(ctx, routeKey{}, pattern)
		ctx = context.WithValue(ctx, loggerKey{}, logger)
		r = r.WithContext(ctx)

		m.HTTPInFlight.Inc()
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			// Runs even when a handler aborts with http.ErrAbortHandler.
			m.HTTPInFlight.Dec()
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			route := routeOf(*pattern)
			elapsed := time.Since(start)
			m.HTTPRequests.WithLabelValues(route, r.Method, strconv.Itoa(status)).Inc()
			m.HTTPDuration.WithLabelValues(route, r.Method).Observe(elapsed.Seconds())

			if *pattern != "" {
				span.SetName(r.Method + " " + route)
				span.SetAttributes(attribute.String("http.route", route))
			}
			span.SetAttributes(
				attribute.String("http.request.method", r.Method),
				attribute.String("url.path", r.URL.Path),
				attribute.Int("http.response.status_code", status),
			)
			if status >= 500 {
				span.SetStatus(codes.Error, http.StatusText(status))
			}
			level := slog.LevelInfo
			if status >= 500 {
				level = slog.LevelError
			}
			logger.Log(r.Context(), level, "http request",
				"method", r.Method, "path", r.URL.Path, "route", route,
				"status", status, "durationMs", float64(elapsed.Microseconds())/1000, "bytes", rec.bytes,
				"remote", clientIP(r))
		}()
		next.ServeHTTP(rec, r)
	})
}

// setRoute records the matched pattern for instrument.
func setRoute(r *http.Request, pattern string) {
	if p, ok := r.Context().Value(routeKey{}).(*string); ok {
		*p = pattern
	}
}

// routeOf strips the method from a matched pattern ("GET /sessions/{id}" →
// "/sessions/{id}"); unmatched requests share one label so unknown paths
// cannot blow up metric cardinality.
func routeOf(pattern string) string {
	if pattern == "" {
		return "unmatched"
	}
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		pattern = pattern[i+1:]
	}
	return pattern
}

// clientIP is the peer address (proxies' headers are not trusted by default).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ClientIP returns the caller's address, for rate limits.
func ClientIP(r *http.Request) string { return clientIP(r) }

// recoverPanics answers a panic with a problem+json 500 that leaks nothing,
// and logs the panic with its stack. When the handler had already started
// its response, the connection is aborted instead: a truncated body must not
// pass for a success.
func recoverPanics(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p)
			}
			logger.ErrorContext(r.Context(), "panic serving request",
				"panic", fmt.Sprint(p), "path", r.URL.Path, "stack", string(debug.Stack()))
			if rec, ok := w.(*statusRecorder); ok && rec.status != 0 {
				panic(http.ErrAbortHandler)
			}
			writeProblem(w, http.StatusInternalServerError, internalProblem(r.URL.Path))
		}()
		next.ServeHTTP(w, r)
	})
}

// limitBody caps every request body; reading past it fails with a
// *http.MaxBytesError, which becomes a 413 problem. Routes in perRoute
// (router pattern → bytes) get their own, larger limit.
func limitBody(max int64, perRoute map[string]int64, mux *http.ServeMux, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := max
		if len(perRoute) > 0 {
			if _, pattern := mux.Handler(r); pattern != "" {
				if l, ok := perRoute[pattern]; ok {
					limit = l
				}
			}
		}
		if r.ContentLength > limit {
			WriteError(w, r, loggerFrom(r.Context()), apperr.TooLarge("body-too-large",
				fmt.Sprintf("request body exceeds %d bytes", limit)))
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		next.ServeHTTP(w, r)
	})
}

// problemNotFound answers unknown paths (404) and wrong methods (405, with
// Allow) as problem+json instead of ServeMux's plain text. It is the
// innermost middleware, so it also tells instrument which route matched.
func problemNotFound(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			setRoute(r, pattern)
			mux.ServeHTTP(w, r)
			return
		}
		logger := loggerFrom(r.Context())
		probe := &headerProbe{header: http.Header{}}
		h.ServeHTTP(probe, r)
		switch probe.status {
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", probe.header.Get("Allow"))
			WriteError(w, r, logger, &apperr.Error{Kind: apperr.KindMethodNotAllowed, Code: "method-not-allowed",
				Message: r.Method + " is not allowed on " + r.URL.Path})
		case http.StatusNotFound, 0:
			WriteError(w, r, logger, apperr.NotFound("not-found", "no such resource: "+r.URL.Path))
		default:
			// A redirect (e.g. path cleaning) — let the mux answer it.
			mux.ServeHTTP(w, r)
		}
	})
}

// headerProbe records what ServeMux's own error handler would answer.
type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header         { return p.header }
func (p *headerProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *headerProbe) WriteHeader(code int)        { p.status = code }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = jsonEncode(w, v)
}

func jsonEncode(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }
