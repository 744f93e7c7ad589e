// Package httpapi is wagate's HTTP plumbing: the router, middleware (request
// ids, access logs, metrics, tracing, panic recovery, body limits,
// authentication), RFC 9457 problem responses, health endpoints and the
// OpenAPI document generated from the handlers' Go types (Huma).
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/wagate/wagate/internal/observe"
)

// Config configures a Server.
type Config struct {
	Addr         string
	Role         string
	Version      string
	MaxBodyBytes int64
	// WithAPI adds the OpenAPI document and the reference page; roles that
	// only serve health and metrics leave it off.
	WithAPI bool
	// Authenticator resolves credentials; nil means no authentication.
	Authenticator Authenticator
	// Checks are the readiness probes (name → check), e.g. database, redis.
	Checks map[string]func(context.Context) error
	// TracerProvider makes the server spans; nil means the global provider
	// that observe.SetupTracing installs.
	TracerProvider trace.TracerProvider
}

// Server is one process's HTTP server. Contexts register Huma operations on
// API and plain handlers (WebSocket, streaming, web pages) on Mux.
type Server struct {
	API     huma.API
	Mux     *http.ServeMux
	cfg     Config
	logger  *slog.Logger
	metrics *observe.Metrics
	http    *http.Server
	ln      net.Listener
}

var installOnce sync.Once

// New builds the server: health, readiness and metrics always; the OpenAPI
// document and /docs when cfg.WithAPI.
func New(cfg Config, logger *slog.Logger, metrics *observe.Metrics) *Server {
	installOnce.Do(installHumaErrors)
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	mux := http.NewServeMux()
	s := &Server{Mux: mux, cfg: cfg, logger: logger, metrics: metrics}

	hc := huma.DefaultConfig("wagate API", cfg.Version)
	hc.Info.Description = "Self-hosted, multi-tenant WhatsApp gateway. Errors are RFC 9457 problem+json."
	hc.CreateHooks = nil // no $schema links in bodies: the contract is plain JSON
	hc.DocsPath = ""     // our own /docs page works offline (no CDN scripts)
	hc.SchemasPath = ""
	hc.OpenAPIPath = ""
	hc.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", BearerFormat: "JWT"},
		"apiKey": {Type: "apiKey", In: "header", Name: "X-Api-Key"},
	}
	s.API = humago.New(mux, hc)

	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", metrics.Handler())
	if cfg.WithAPI {
		mux.HandleFunc("GET /openapi.json", s.openAPI)
		mux.HandleFunc("GET /docs", s.docs)
	}
	return s
}

// Handler is the whole middleware chain around the router.
func (s *Server) Handler() http.Handler {
	var h http.Handler = problemNotFound(s.Mux)
	h = authenticate(s.cfg.Authenticator, h)
	h = limitBody(s.cfg.MaxBodyBytes, s.routeBodyLimits(), s.Mux, h)
	h = recoverPanics(s.logger, h)
	tp := s.cfg.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	h = instrument(s.logger, s.metrics, tp, h)
	return requestID(h)
}

// SetAuthenticator installs the credential resolver; call before Start.
func (s *Server) SetAuthenticator(a Authenticator) { s.cfg.Authenticator = a }

// Authenticator is the installed credential resolver (nil when none).
// Handlers that take credentials from elsewhere than the headers (the
// WebSocket's access_token query parameter) resolve them with it.
func (s *Server) Authenticator() Authenticator { return s.cfg.Authenticator }

// AddCheck adds a readiness probe; call before Start.
func (s *Server) AddCheck(name string, check func(context.Context) error) {
	if s.cfg.Checks == nil {
		s.cfg.Checks = map[string]func(context.Context) error{}
	}
	s.cfg.Checks[name] = check
}

// Start listens on the configured address and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	s.http = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("http server stopped", "error", err)
		}
	}()
	s.logger.Info("http server listening", "addr", ln.Addr().String())
	return nil
}

// Addr is the address actually listened on (useful with port 0).
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.cfg.Addr
	}
	return s.ln.Addr().String()
}

// Shutdown stops accepting connections and waits for in-flight requests.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.http == nil {
		return nil
	}
	return s.http.Shutdown(ctx)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "role": s.cfg.Role})
}

// readyz runs every check concurrently, each bounded by readyTimeout, so one
// hanging dependency neither hides the others nor stalls the probe.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	type result struct {
		name string
		err  error
	}
	results := make(chan result, len(s.cfg.Checks))
	for name, check := range s.cfg.Checks {
		go func() { results <- result{name, check(ctx)} }()
	}
	checks := map[string]string{}
	var failed []string
	for range s.cfg.Checks {
		res := <-results
		if res.err != nil {
			// The error text can name hosts and users: it goes to the log,
			// the probe only learns which dependency failed.
			s.logger.WarnContext(r.Context(), "readiness check failed", "check", res.name, "error", res.err.Error())
			checks[res.name] = "unavailable"
			failed = append(failed, res.name)
		} else {
			checks[res.name] = "ok"
		}
	}
	if len(failed) > 0 {
		sort.Strings(failed)
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = jsonEncode(w, map[string]any{
			"type":   ProblemBaseURI + "not-ready",
			"title":  "Service Unavailable",
			"status": http.StatusServiceUnavailable,
			"detail": "unavailable: " + strings.Join(failed, ", "),
			"checks": checks,
		})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "checks": checks})
}

// readyTimeout bounds one readiness probe; orchestrators usually give up
// after a few seconds anyway.
const readyTimeout = 3 * time.Second

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	b, err := s.API.OpenAPI().MarshalJSON()
	if err != nil {
		WriteError(w, r, s.logger, err)
		return
	}
	w.Header().Set("Content-Type", "application/vnd.oai.openapi+json")
	_, _ = w.Write(b)
}

// humaDefaultMaxBody is what Huma sets on operations that declare no limit.
const humaDefaultMaxBody = 1 << 20

// routeBodyLimits collects the operations that declare a body limit larger
// than both the server-wide one and Huma's default (e.g. sends with inline
// media), keyed by their router pattern, so the global limit does not cut
// them short. Operations without a declared limit keep the server-wide one.
func (s *Server) routeBodyLimits() map[string]int64 {
	floor := max(s.cfg.MaxBodyBytes, humaDefaultMaxBody)
	limits := map[string]int64{}
	for path, item := range s.API.OpenAPI().Paths {
		for method, op := range operationsOf(item) {
			if op.MaxBodyBytes > floor {
				limits[method+" "+path] = op.MaxBodyBytes
			}
		}
	}
	return limits
}

// operationsOf lists a path's operations by method.
func operationsOf(item *huma.PathItem) map[string]*huma.Operation {
	ops := map[string]*huma.Operation{}
	for method, op := range map[string]*huma.Operation{
		"GET": item.Get, "POST": item.Post, "PUT": item.Put, "PATCH": item.Patch, "DELETE": item.Delete,
	} {
		if op != nil {
			ops[method] = op
		}
	}
	return ops
}
