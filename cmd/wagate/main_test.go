package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wagate/wagate/internal/testenv"
)

// binary is the wagate executable built once for every test in this file.
var binary string

// TestMain builds the real binary (with the race detector when the tests
// run with it, so start-up and shutdown are race-checked too) and runs the
// process-level tests against it.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wagate-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "wagate")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command(goTool(), append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build wagate:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// cleanEnv is the test's environment without any WAGATE_* or OTEL_*
// variable, so a process starts from defaults plus what a test sets.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "WAGATE_") || strings.HasPrefix(kv, "OTEL_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// syncBuffer is a bytes.Buffer safe for a process writing while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// process is a running wagate.
type process struct {
	cmd    *exec.Cmd
	addr   string
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

// start runs `wagate args…` in dir with env and waits until /healthz answers.
func start(t *testing.T, dir string, env []string, args ...string) *process {
	t.Helper()
	addr := freeAddr(t)
	p := &process{addr: addr, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Dir = dir
	p.cmd.Env = append(slices.Clip(env), "WAGATE_HTTP_ADDR="+addr)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start wagate %v: %v", args, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("wagate %v stderr:\n%s", args, p.stderr)
		}
	})

	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case <-p.done:
			t.Fatalf("wagate %v exited before answering /healthz (%v):\n%s", args, p.err, p.stderr)
		default:
		}
		if res, err := http.Get(p.url("/healthz")); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("wagate %v did not answer /healthz in time:\n%s", args, p.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *process) url(path string) string { return "http://" + p.addr + path }

// stop sends sig and returns the exit code.
func (p *process) stop(t *testing.T, sig os.Signal) int {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("wagate did not stop within a minute of %v:\n%s", sig, p.stderr)
	}
	return exitCode(p.err)
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// logRecords parses the JSON log lines on stderr.
func (p *process) logRecords(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(p.stderr.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil {
			out = append(out, rec)
		}
	}
	return out
}

// hasLog reports whether a log record has msg and every given field.
func (p *process) hasLog(t *testing.T, msg string, fields map[string]string) bool {
	t.Helper()
	for _, rec := range p.logRecords(t) {
		if rec["msg"] != msg {
			continue
		}
		ok := true
		for k, v := range fields {
			ok = ok && fmt.Sprint(rec[k]) == v
		}
		if ok {
			return true
		}
	}
	return false
}

func httpGet(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

// runWagate runs a short command (migrate, version, a failing start) to its end.
func runWagate(t *testing.T, dir string, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return exitCode(err), out.String(), errOut.String()
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("wagate %v did not finish:\n%s", args, errOut.String())
		return 0, "", ""
	}
}

// TestServeWithZeroConfiguration is the README's first command: no
// environment at all (only a free port), embedded mode.
func TestServeWithZeroConfiguration(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := start(t, dir, cleanEnv(), "serve")

	if _, err := os.Stat(filepath.Join(dir, "data", "wagate.db")); err != nil {
		t.Errorf("./data/wagate.db was not created: %v", err)
	}
	if !p.hasLog(t, "wagate started", map[string]string{"role": "serve", "mode": "embedded", "http": p.addr}) {
		t.Errorf("no start line naming the role and mode:\n%s", p.stderr)
	}

	status, header, body := httpGet(t, p.url("/openapi.json"))
	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if status != http.StatusOK || json.Unmarshal([]byte(body), &doc) != nil {
		t.Fatalf("/openapi.json: %d %.200s", status, body)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	if !strings.Contains(header.Get("Content-Type"), "json") {
		t.Errorf("/openapi.json Content-Type = %q", header.Get("Content-Type"))
	}

	status, header, body = httpGet(t, p.url("/docs"))
	if status != http.StatusOK || !strings.HasPrefix(header.Get("Content-Type"), "text/html") || !strings.Contains(body, "<html") {
		t.Errorf("/docs: %d %s %.100s", status, header.Get("Content-Type"), body)
	}
	if status, _, body := httpGet(t, p.url("/readyz")); status != http.StatusOK || !strings.Contains(body, `"database":"ok"`) {
		t.Errorf("/readyz: %d %s", status, body)
	}
	if status, _, body := httpGet(t, p.url("/metrics")); status != http.StatusOK ||
		!strings.Contains(body, `wagate_http_requests_total{method="GET",route="/healthz",status="200"}`) {
		t.Errorf("/metrics does not count the probes: %d", status)
	}
	status, header, _ = httpGet(t, p.url("/no-such-thing"))
	if status != http.StatusNotFound || header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("unknown path: %d %s", status, header.Get("Content-Type"))
	}

	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d, want 0:\n%s", code, p.stderr)
	}
	if !p.hasLog(t, "stopped", nil) {
		t.Errorf("no shutdown log line:\n%s", p.stderr)
	}

	// A restart on the same data finds its schema and starts again (the
	// automatic migration is a no-op), and SIGINT stops it as well.
	again := start(t, dir, cleanEnv(), "serve")
	if again.hasLog(t, "migrations applied", nil) {
		t.Error("the second start applied migrations again")
	}
	if code := again.stop(t, os.Interrupt); code != 0 {
		t.Fatalf("exit code after SIGINT = %d, want 0:\n%s", code, again.stderr)
	}
}

// TestDistributedRolesStartAndStop runs migrate, then every role against
// PostgreSQL and Redis, each as its own process.
func TestDistributedRolesStartAndStop(t *testing.T) {
	t.Parallel()
	dbURL := testenv.PostgresURL(t)
	_, prefix := testenv.Redis(t)
	env := cleanEnv("WAGATE_DATABASE_URL="+dbURL, "WAGATE_REDIS_URL="+testenv.RedisURL(), "WAGATE_REDIS_PREFIX="+prefix)
	dir := t.TempDir()

	for i := range 2 {
		code, _, stderr := runWagate(t, dir, env, "migrate")
		if code != 0 {
			t.Fatalf("migrate run %d: exit %d\n%s", i+1, code, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Error("a PostgreSQL deployment created ./data")
	}

	for _, role := range []string{"api", "session-worker", "event-consumer", "outbox-dispatcher", "serve"} {
		t.Run(role, func(t *testing.T) {
			t.Parallel()
			p := start(t, dir, env, role)
			if !p.hasLog(t, "wagate started", map[string]string{"role": role, "mode": "distributed"}) {
				t.Errorf("no start line for %s in distributed mode:\n%s", role, p.stderr)
			}
			_, _, body := httpGet(t, p.url("/healthz"))
			if !strings.Contains(body, `"role":"`+role+`"`) {
				t.Errorf("/healthz does not name the role: %s", body)
			}
			status, _, body := httpGet(t, p.url("/readyz"))
			if status != http.StatusOK || !strings.Contains(body, `"database":"ok"`) || !strings.Contains(body, `"redis":"ok"`) {
				t.Errorf("/readyz: %d %s", status, body)
			}
			if status, _, _ := httpGet(t, p.url("/metrics")); status != http.StatusOK {
				t.Errorf("/metrics: %d", status)
			}
			wantDocs := http.StatusNotFound
			if role == "api" || role == "serve" {
				wantDocs = http.StatusOK
			}
			if status, _, _ := httpGet(t, p.url("/openapi.json")); status != wantDocs {
				t.Errorf("/openapi.json on %s: %d, want %d", role, status, wantDocs)
			}
			if code := p.stop(t, syscall.SIGTERM); code != 0 {
				t.Fatalf("%s exit code after SIGTERM = %d, want 0:\n%s", role, code, p.stderr)
			}
		})
	}
}

func TestBadConfigurationStopsStartUp(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, value string }{
		{"WAGATE_LOG_LEVEL", "loud"},
		{"WAGATE_HTTP_ADDR", "8080"},
		{"WAGATE_REDIS_URL", "redis://127.0.0.1:6379"}, // without PostgreSQL
		{"WAGATE_MAX_BODY_BYTES", "lots"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			code, _, stderr := runWagate(t, dir, cleanEnv(c.name+"="+c.value), "serve")
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], c.name) {
				t.Errorf("want one line naming %s, got:\n%s", c.name, stderr)
			}
			if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
				t.Error("a refused configuration still created ./data")
			}
		})
	}
}

func TestStartFailuresExitNonZero(t *testing.T) {
	t.Parallel()
	t.Run("UnreachableDatabase", func(t *testing.T) {
		t.Parallel()
		code, _, stderr := runWagate(t, t.TempDir(), cleanEnv(
			"WAGATE_HTTP_ADDR="+freeAddr(t),
			"WAGATE_DATABASE_URL=postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"), "api")
		if code != 1 || !strings.Contains(stderr, "start failed") {
			t.Errorf("exit %d, stderr:\n%s", code, stderr)
		}
	})
	t.Run("PortInUse", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		code, _, stderr := runWagate(t, t.TempDir(), cleanEnv("WAGATE_HTTP_ADDR="+ln.Addr().String()), "serve")
		if code != 1 || !strings.Contains(stderr, "listen") {
			t.Errorf("exit %d, stderr:\n%s", code, stderr)
		}
	})
}

func TestCommandLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	t.Run("Version", func(t *testing.T) {
		code, stdout, _ := runWagate(t, dir, cleanEnv(), "version")
		if code != 0 || !strings.HasPrefix(stdout, "wagate ") {
			t.Errorf("version: exit %d, %q", code, stdout)
		}
	})
	t.Run("Help", func(t *testing.T) {
		code, stdout, _ := runWagate(t, dir, cleanEnv(), "--help")
		for _, cmd := range []string{"serve", "api", "session-worker", "event-consumer", "outbox-dispatcher", "migrate", "version"} {
			if !strings.Contains(stdout, cmd) {
				t.Errorf("usage lacks %s", cmd)
			}
		}
		if code != 0 {
			t.Errorf("help exit %d", code)
		}
	})
	t.Run("UnknownCommand", func(t *testing.T) {
		code, _, stderr := runWagate(t, dir, cleanEnv(), "frobnicate")
		if code != 2 || !strings.Contains(stderr, `unknown command "frobnicate"`) {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("MigrateEmbedded", func(t *testing.T) {
		for i := range 2 {
			code, _, stderr := runWagate(t, dir, cleanEnv(), "migrate")
			if code != 0 || !strings.Contains(stderr, "migrations done") {
				t.Fatalf("migrate run %d: exit %d\n%s", i+1, code, stderr)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "data", "wagate.db")); err != nil {
			t.Errorf("migrate did not create the SQLite file: %v", err)
		}
	})
}
