package httpapi

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
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

var tracer = otel.Tracer("github.com/wagate/wagate/internal/httpapi")

// instrument logs one line per request, records metrics by route pattern and
// opens a server span named after the route. The query string is never
// logged: it may hold an access token.
func instrument(logger *slog.Logger, m *observe.Metrics, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		r = r.WithContext(ctx)

		m.HTTPInFlight.Inc()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		m.HTTPInFlight.Dec()

		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		route := routeOf(r)
		elapsed := time.Since(start)
		m.HTTPRequests.WithLabelValues(route, r.Method, strconv.Itoa(status)).Inc()
		m.HTTPDuration.WithLabelValues(route, r.Method).Observe(elapsed.Seconds())

		span.SetName(r.Method + " " + route)
		span.SetAttributes(
			attribute.String("http.request.method", r.Method),
			attribute.String("http.route", route),
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
	})
}

// routeOf returns the matched pattern without its method ("/sessions/{id}"),
// or "unmatched" so unknown paths cannot blow up metric cardinality.
func routeOf(r *http.Request) string {
	p := r.Pattern
	if p == "" {
		return "unmatched"
	}
	if i := strings.IndexByte(p, ' '); i >= 0 {
		p = p[i+1:]
	}
	return p
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
// and logs the panic with its stack.
func recoverPanics(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				WriteError(w, r, logger, fmt.Errorf("panic: %v", p))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// limitBody caps every request body; reading past it fails with a
// *http.MaxBytesError, which becomes a 413 problem.
func limitBody(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			WriteError(w, r, slog.Default(), apperr.TooLarge("body-too-large",
				fmt.Sprintf("request body exceeds %d bytes", max)))
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, max)
		}
		next.ServeHTTP(w, r)
	})
}

// problemNotFound answers unknown paths (404) and wrong methods (405, with
// Allow) as problem+json instead of ServeMux's plain text.
func problemNotFound(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		probe := &headerProbe{header: http.Header{}}
		h.ServeHTTP(probe, r)
		switch probe.status {
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", probe.header.Get("Allow"))
			WriteError(w, r, slog.Default(), &apperr.Error{Kind: apperr.KindMethodNotAllowed, Code: "method-not-allowed",
				Message: r.Method + " is not allowed on " + r.URL.Path})
		case http.StatusNotFound, 0:
			WriteError(w, r, slog.Default(), apperr.NotFound("not-found", "no such resource: "+r.URL.Path))
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
