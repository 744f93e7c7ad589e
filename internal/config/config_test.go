package config_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/internal/config"
)

// env turns a map into the lookup function Load takes.
func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

func TestLoadDefaultsNeedNoEnvironment(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatalf("Load with no environment: %v", err)
	}
	want := config.Config{
		HTTPAddr:            ":8080",
		DatabaseURL:         "./data/wagate.db",
		LogLevel:            slog.LevelInfo,
		LogFormat:           "json",
		PublicURL:           "http://localhost:8080",
		MaxBodyBytes:        1 << 20,
		ShutdownTimeout:     15 * time.Second,
		MailFrom:            "wagate <no-reply@wagate.local>",
		SendTimeout:         5 * time.Minute,
		MaxAttempts:         8,
		StreamMaxLen:        1_000_000,
		CloudAPIBaseURL:     "https://graph.facebook.com",
		MediaDir:            "./data/media",
		MaxMediaBytes:       16 << 20,
		WSReplayWindow:      24 * time.Hour,
		WSMaxConnections:    100,
		WebhookAllowPrivate: false,
		Simulator:           false,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
	if c.Distributed() || c.Postgres() {
		t.Errorf("defaults must be embedded mode on SQLite, got distributed=%v postgres=%v", c.Distributed(), c.Postgres())
	}
}

// goodValues sets every variable to a valid non-default value and says how
// the result must read back. Every WAGATE_* variable Load reads must appear
// here (TestEveryVariableIsTested enforces it).
var goodValues = map[string]struct {
	value string
	check func(config.Config) bool
}{
	"WAGATE_HTTP_ADDR": {"127.0.0.1:9999", func(c config.Config) bool { return c.HTTPAddr == "127.0.0.1:9999" }},
	"WAGATE_DATABASE_URL": {"postgres://u@db:5432/wagate?sslmode=disable", func(c config.Config) bool {
		return c.DatabaseURL == "postgres://u@db:5432/wagate?sslmode=disable" && c.Postgres()
	}},
	"WAGATE_REDIS_URL":             {"redis://cache:6379/2", func(c config.Config) bool { return c.RedisURL == "redis://cache:6379/2" && c.Distributed() }},
	"WAGATE_REDIS_PREFIX":          {"prod:", func(c config.Config) bool { return c.RedisPrefix == "prod:" }},
	"WAGATE_LOG_LEVEL":             {"debug", func(c config.Config) bool { return c.LogLevel == slog.LevelDebug }},
	"WAGATE_LOG_FORMAT":            {"TEXT", func(c config.Config) bool { return c.LogFormat == "text" }},
	"WAGATE_PUBLIC_URL":            {"https://wa.example.com/", func(c config.Config) bool { return c.PublicURL == "https://wa.example.com" }},
	"WAGATE_MAX_BODY_BYTES":        {"2048", func(c config.Config) bool { return c.MaxBodyBytes == 2048 }},
	"WAGATE_SHUTDOWN_TIMEOUT":      {"3s", func(c config.Config) bool { return c.ShutdownTimeout == 3*time.Second }},
	"WAGATE_SMTP_URL":              {"smtp://user:pass@mail:587", func(c config.Config) bool { return c.SMTPURL == "smtp://user:pass@mail:587" }},
	"WAGATE_MAIL_FROM":             {"Ops <ops@example.com>", func(c config.Config) bool { return c.MailFrom == "Ops <ops@example.com>" }},
	"WAGATE_JWT_KEY":               {"c2VlZA==", func(c config.Config) bool { return c.JWTKey == "c2VlZA==" }},
	"WAGATE_SECRET_KEY":            {"s3cret", func(c config.Config) bool { return c.SecretKey == "s3cret" }},
	"WAGATE_SIMULATOR":             {"true", func(c config.Config) bool { return c.Simulator }},
	"WAGATE_SEND_TIMEOUT":          {"45s", func(c config.Config) bool { return c.SendTimeout == 45*time.Second }},
	"WAGATE_WEBHOOK_ALLOW_PRIVATE": {"1", func(c config.Config) bool { return c.WebhookAllowPrivate }},
	"WAGATE_MAX_ATTEMPTS":          {"3", func(c config.Config) bool { return c.MaxAttempts == 3 }},
	"WAGATE_STREAM_MAXLEN":         {"0", func(c config.Config) bool { return c.StreamMaxLen == 0 }},
	"WAGATE_CLOUD_API_BASE_URL":    {"http://127.0.0.1:9000", func(c config.Config) bool { return c.CloudAPIBaseURL == "http://127.0.0.1:9000" }},
	"WAGATE_MEDIA_DIR":             {"/var/lib/wagate/media", func(c config.Config) bool { return c.MediaDir == "/var/lib/wagate/media" }},
	"WAGATE_MAX_MEDIA_BYTES":       {"1048576", func(c config.Config) bool { return c.MaxMediaBytes == 1<<20 }},
	"WAGATE_MEDIA_ALLOW_PRIVATE":   {"true", func(c config.Config) bool { return c.MediaAllowPrivate }},
	"WAGATE_WS_REPLAY_WINDOW":      {"2h", func(c config.Config) bool { return c.WSReplayWindow == 2*time.Hour }},
	"WAGATE_WS_MAX_CONNECTIONS":    {"7", func(c config.Config) bool { return c.WSMaxConnections == 7 }},
}

// needs lists the other variables a good value depends on.
var needs = map[string]map[string]string{
	"WAGATE_REDIS_URL": {"WAGATE_DATABASE_URL": "postgres://db/wagate"},
}

func TestLoadReadsEveryVariable(t *testing.T) {
	t.Parallel()
	for name, tc := range goodValues {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			vars := map[string]string{name: tc.value}
			for k, v := range needs[name] {
				vars[k] = v
			}
			c, err := config.Load(env(vars))
			if err != nil {
				t.Fatalf("%s=%q: unexpected error: %v", name, tc.value, err)
			}
			if !tc.check(c) {
				t.Errorf("%s=%q did not read back: %+v", name, tc.value, c)
			}
		})
	}
}

func TestLoadAcceptsAllGoodValuesTogether(t *testing.T) {
	t.Parallel()
	vars := map[string]string{}
	for name, tc := range goodValues {
		vars[name] = tc.value
	}
	c, err := config.Load(env(vars))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	for name, tc := range goodValues {
		if !tc.check(c) {
			t.Errorf("%s=%q did not read back", name, tc.value)
		}
	}
}

func TestLoadRejectsBadValuesNamingTheVariable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, value string
		extra       map[string]string
	}{
		{"WAGATE_HTTP_ADDR", "8080", nil},
		{"WAGATE_HTTP_ADDR", "localhost:http", nil},
		{"WAGATE_HTTP_ADDR", "127.0.0.1:70000", nil},
		{"WAGATE_DATABASE_URL", "mysql://root@db/wagate", nil},
		{"WAGATE_DATABASE_URL", "postgres://bad host/%zz", nil},
		{"WAGATE_REDIS_URL", "http://cache:6379", map[string]string{"WAGATE_DATABASE_URL": "postgres://db/wagate"}},
		{"WAGATE_REDIS_URL", "redis://cache:6379", nil}, // Redis without PostgreSQL
		{"WAGATE_LOG_LEVEL", "loud", nil},
		{"WAGATE_LOG_FORMAT", "xml", nil},
		{"WAGATE_PUBLIC_URL", "wa.example.com", nil},
		{"WAGATE_PUBLIC_URL", "ftp://wa.example.com", nil},
		{"WAGATE_MAX_BODY_BYTES", "1MB", nil},
		{"WAGATE_MAX_BODY_BYTES", "0", nil},
		{"WAGATE_SHUTDOWN_TIMEOUT", "15", nil},
		{"WAGATE_SHUTDOWN_TIMEOUT", "-1s", nil},
		{"WAGATE_SMTP_URL", "mail.example.com:25", nil},
		{"WAGATE_SMTP_URL", "http://mail.example.com", nil},
		{"WAGATE_MAIL_FROM", "not an address", nil},
		{"WAGATE_SIMULATOR", "yes please", nil},
		{"WAGATE_SEND_TIMEOUT", "soon", nil},
		{"WAGATE_SEND_TIMEOUT", "0s", nil},
		{"WAGATE_WEBHOOK_ALLOW_PRIVATE", "maybe", nil},
		{"WAGATE_MAX_ATTEMPTS", "0", nil},
		{"WAGATE_MAX_ATTEMPTS", "many", nil},
		{"WAGATE_STREAM_MAXLEN", "-1", nil},
		{"WAGATE_CLOUD_API_BASE_URL", "graph.facebook.com", nil},
		{"WAGATE_WS_REPLAY_WINDOW", "1d", nil},
		{"WAGATE_WS_MAX_CONNECTIONS", "0", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			t.Parallel()
			vars := map[string]string{tc.name: tc.value}
			for k, v := range tc.extra {
				vars[k] = v
			}
			_, err := config.Load(env(vars))
			if err == nil {
				t.Fatalf("%s=%q was accepted", tc.name, tc.value)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tc.name+": ") {
				t.Errorf("error must start with the variable name %s: %q", tc.name, msg)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error must be one line: %q", msg)
			}
		})
	}
}

func TestLoadReportsTheFirstBadVariableOnly(t *testing.T) {
	t.Parallel()
	_, err := config.Load(env(map[string]string{
		"WAGATE_LOG_LEVEL":    "loud",
		"WAGATE_MAX_ATTEMPTS": "many",
	}))
	if err == nil || !strings.HasPrefix(err.Error(), "WAGATE_LOG_LEVEL: ") {
		t.Fatalf("want the first bad variable (WAGATE_LOG_LEVEL), got %v", err)
	}
}

func TestLoadTreatsBlankAsUnset(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(map[string]string{"WAGATE_HTTP_ADDR": "  ", "WAGATE_MAX_ATTEMPTS": ""}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.HTTPAddr != ":8080" || c.MaxAttempts != 8 {
		t.Errorf("blank values must fall back to defaults, got addr=%q attempts=%d", c.HTTPAddr, c.MaxAttempts)
	}
}

func TestPublicURLDefaultsFromHTTPAddr(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		":8080":          "http://localhost:8080",
		"0.0.0.0:9000":   "http://localhost:9000",
		"[::]:9000":      "http://localhost:9000",
		"127.0.0.1:8081": "http://127.0.0.1:8081",
		"[::1]:8081":     "http://[::1]:8081",
	} {
		c, err := config.Load(env(map[string]string{"WAGATE_HTTP_ADDR": addr}))
		if err != nil {
			t.Fatalf("WAGATE_HTTP_ADDR=%s: %v", addr, err)
		}
		if c.PublicURL != want {
			t.Errorf("WAGATE_HTTP_ADDR=%s: PublicURL = %q, want %q", addr, c.PublicURL, want)
		}
	}
}

func TestDatabaseURLSelectsTheDialect(t *testing.T) {
	t.Parallel()
	for u, pg := range map[string]bool{
		"./data/wagate.db":          false,
		"/var/lib/wagate/wagate.db": false,
		"file:/tmp/w.db?cache=1":    false,
		"file:///tmp/w.db":          false,
		"postgres://db/wagate":      true,
		"postgresql://db/wagate":    true,
	} {
		c, err := config.Load(env(map[string]string{"WAGATE_DATABASE_URL": u}))
		if err != nil {
			t.Fatalf("WAGATE_DATABASE_URL=%s: %v", u, err)
		}
		if c.Postgres() != pg || config.IsPostgresURL(u) != pg {
			t.Errorf("WAGATE_DATABASE_URL=%s: Postgres() = %v, want %v", u, c.Postgres(), pg)
		}
	}
}

// loadedVariables parses config.go and returns every WAGATE_* name it reads.
func loadedVariables(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "config.go", nil, 0)
	if err != nil {
		t.Fatalf("parse config.go: %v", err)
	}
	name := regexp.MustCompile(`^WAGATE_[A-Z0-9_]+$`)
	seen := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		lit, ok := n.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		if s, err := strconv.Unquote(lit.Value); err == nil && name.MatchString(s) {
			seen[s] = true
		}
		return true
	})
	var out []string
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	if len(out) < 10 {
		t.Fatalf("found only %d variables in config.go: %v", len(out), out)
	}
	return out
}

// TestEveryVariableIsTested keeps goodValues complete: a variable added to
// Load without a test line fails here.
func TestEveryVariableIsTested(t *testing.T) {
	t.Parallel()
	for _, v := range loadedVariables(t) {
		if _, ok := goodValues[v]; !ok {
			t.Errorf("%s is read by Load but has no line in goodValues", v)
		}
	}
}

// TestEveryVariableIsDocumented keeps docs/configuration.md complete.
func TestEveryVariableIsDocumented(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatalf("read docs/configuration.md: %v", err)
	}
	for _, v := range loadedVariables(t) {
		if !strings.Contains(string(doc), "`"+v+"`") {
			t.Errorf("%s is read by Load but not documented in docs/configuration.md", v)
		}
	}
}
