package observe_test

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/wagate/wagate/internal/observe"
)

// collector is a minimal OTLP/HTTP traces receiver.
func collector(t *testing.T) (*httptest.Server, <-chan *coltrace.ExportTraceServiceRequest) {
	t.Helper()
	got := make(chan *coltrace.ExportTraceServiceRequest, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("unexpected export %s %s (%s)", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				t.Error(err)
				return
			}
			body = zr
		}
		b, _ := io.ReadAll(body)
		req := &coltrace.ExportTraceServiceRequest{}
		if err := proto.Unmarshal(b, req); err != nil {
			t.Errorf("export is not OTLP protobuf: %v", err)
		}
		got <- req
		w.Header().Set("Content-Type", "application/x-protobuf")
		resp, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		_, _ = w.Write(resp)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

// Not parallel: these tests set process environment and the global
// tracer provider, as SetupTracing does in main.
func TestSetupTracingExportsOverOTLPHTTPWhenEndpointIsSet(t *testing.T) {
	srv, got := collector(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_SERVICE_NAME", "wagate-test")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=ci")

	shutdown, err := observe.SetupTracing(context.Background(), "api", "9.9.9")
	if err != nil {
		t.Fatalf("SetupTracing: %v", err)
	}
	_, span := otel.Tracer("test").Start(context.Background(), "GET /healthz")
	span.End()
	if err := shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown (flush): %v", err)
	}

	var req *coltrace.ExportTraceServiceRequest
	select {
	case req = <-got:
	default:
		t.Fatal("shutdown returned but the collector received nothing")
	}
	if len(req.ResourceSpans) == 0 || len(req.ResourceSpans[0].ScopeSpans) == 0 {
		t.Fatalf("empty export: %v", req)
	}
	rs := req.ResourceSpans[0]
	if name := rs.ScopeSpans[0].Spans[0].Name; name != "GET /healthz" {
		t.Errorf("span name %q", name)
	}
	attrs := map[string]string{}
	for _, kv := range rs.Resource.Attributes {
		attrs[kv.Key] = kv.Value.GetStringValue()
	}
	if attrs["service.name"] != "wagate-test" {
		t.Errorf("OTEL_SERVICE_NAME must win: service.name = %q", attrs["service.name"])
	}
	if attrs["deployment.environment"] != "ci" || attrs["service.version"] != "9.9.9" || attrs["wagate.role"] != "api" {
		t.Errorf("resource attributes %v", attrs)
	}
}

func TestSetupTracingIsANoOpWithoutEndpoint(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	before := otel.GetTracerProvider()
	shutdown, err := observe.SetupTracing(context.Background(), "api", "dev")
	if err != nil {
		t.Fatal(err)
	}
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if otel.GetTracerProvider() != before {
		t.Error("a tracer provider was installed without an endpoint")
	}
	// Incoming trace context is still understood.
	fields := otel.GetTextMapPropagator().Fields()
	found := false
	for _, f := range fields {
		found = found || f == "traceparent"
	}
	if !found {
		t.Errorf("W3C propagator not installed: %v", fields)
	}
}

func TestSetupTracingRespectsSDKDisabled(t *testing.T) {
	srv, _ := collector(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_SDK_DISABLED", "true")
	before := otel.GetTracerProvider()
	shutdown, err := observe.SetupTracing(context.Background(), "api", "dev")
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(context.Background())
	if otel.GetTracerProvider() != before {
		t.Error("a tracer provider was installed although OTEL_SDK_DISABLED=true")
	}
}
