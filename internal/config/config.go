// Package config reads wagate's configuration from WAGATE_* environment
// variables, fills defaults and validates every value before anything starts.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is the whole runtime configuration of one wagate process.
type Config struct {
	// HTTPAddr is where the HTTP server listens (WAGATE_HTTP_ADDR).
	HTTPAddr string
	// DatabaseURL selects the store: a postgres:// URL means PostgreSQL,
	// anything else is an SQLite file path or file: URL (WAGATE_DATABASE_URL).
	DatabaseURL string
	// RedisURL enables Redis Streams as the event log; empty means the
	// embedded log over the outbox table (WAGATE_REDIS_URL).
	RedisURL string
	// RedisPrefix is prepended to every Redis key wagate uses, so several
	// deployments (or tests) can share one Redis (WAGATE_REDIS_PREFIX).
	RedisPrefix string
	// LogLevel is debug, info, warn or error (WAGATE_LOG_LEVEL).
	LogLevel slog.Level
	// LogFormat is json or text (WAGATE_LOG_FORMAT).
	LogFormat string
	// PublicURL is the externally reachable base URL, used in mailed links
	// (WAGATE_PUBLIC_URL).
	PublicURL string
	// MaxBodyBytes limits every request body (WAGATE_MAX_BODY_BYTES).
	MaxBodyBytes int64
	// ShutdownTimeout bounds graceful shutdown (WAGATE_SHUTDOWN_TIMEOUT).
	ShutdownTimeout time.Duration

	// SMTPURL is smtp://user:pass@host:port; empty logs mail instead of
	// sending it (WAGATE_SMTP_URL).
	SMTPURL string
	// MailFrom is the sender address of outgoing mail (WAGATE_MAIL_FROM).
	MailFrom string
	// JWTKey is a base64 Ed25519 seed; empty means a key generated once and
	// kept in the database (WAGATE_JWT_KEY).
	JWTKey string
	// SecretKey encrypts provider secrets at rest (WAGATE_SECRET_KEY).
	SecretKey string

	// Simulator enables the simulator provider and its control endpoints
	// (WAGATE_SIMULATOR).
	Simulator bool
	// SendTimeout is how long a send waits for a disconnected session
	// (WAGATE_SEND_TIMEOUT).
	SendTimeout time.Duration
	// WebhookAllowPrivate allows webhook URLs on private or loopback
	// addresses (WAGATE_WEBHOOK_ALLOW_PRIVATE).
	WebhookAllowPrivate bool
	// MaxAttempts is how many times a failing event handler is tried before
	// it is dead-lettered (WAGATE_MAX_ATTEMPTS).
	MaxAttempts int
	// StreamMaxLen trims Redis streams approximately to this length
	// (WAGATE_STREAM_MAXLEN).
	StreamMaxLen int64
	// CloudAPIBaseURL is the Graph API base for the cloud provider
	// (WAGATE_CLOUD_API_BASE_URL).
	CloudAPIBaseURL string
	// MediaDir caches downloaded media (WAGATE_MEDIA_DIR).
	MediaDir string
	// MaxMediaBytes bounds one message's media: inline base64 uploads,
	// media fetched from a URL and downloads (WAGATE_MAX_MEDIA_BYTES).
	MaxMediaBytes int64
	// MediaAllowPrivate lets outgoing media URLs point at loopback and
	// private addresses (WAGATE_MEDIA_ALLOW_PRIVATE).
	MediaAllowPrivate bool
	// WSReplayWindow is how far back a WebSocket client may resume with
	// ?since= (WAGATE_WS_REPLAY_WINDOW).
	WSReplayWindow time.Duration
	// WSMaxConnections bounds one tenant's WebSocket connections to one API
	// process (WAGATE_WS_MAX_CONNECTIONS).
	WSMaxConnections int
}

// Distributed reports whether the process runs against PostgreSQL and Redis.
func (c Config) Distributed() bool { return c.RedisURL != "" }

// Postgres reports whether the database URL names PostgreSQL.
func (c Config) Postgres() bool { return IsPostgresURL(c.DatabaseURL) }

// IsPostgresURL reports whether a database URL names PostgreSQL.
func IsPostgresURL(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// Load builds a Config from a lookup function such as os.LookupEnv. The first
// invalid variable stops loading with an error naming it.
func Load(lookup func(string) (string, bool)) (Config, error) {
	r := reader{lookup: lookup}
	c := Config{
		HTTPAddr:            r.str("WAGATE_HTTP_ADDR", ":8080"),
		DatabaseURL:         r.str("WAGATE_DATABASE_URL", "./data/wagate.db"),
		RedisURL:            r.str("WAGATE_REDIS_URL", ""),
		RedisPrefix:         r.str("WAGATE_REDIS_PREFIX", ""),
		LogLevel:            r.level("WAGATE_LOG_LEVEL", slog.LevelInfo),
		LogFormat:           r.oneOf("WAGATE_LOG_FORMAT", "json", "json", "text"),
		PublicURL:           r.str("WAGATE_PUBLIC_URL", ""),
		MaxBodyBytes:        r.int64("WAGATE_MAX_BODY_BYTES", 1<<20, 1),
		ShutdownTimeout:     r.duration("WAGATE_SHUTDOWN_TIMEOUT", 15*time.Second),
		SMTPURL:             r.str("WAGATE_SMTP_URL", ""),
		MailFrom:            r.str("WAGATE_MAIL_FROM", "wagate <no-reply@wagate.local>"),
		JWTKey:              r.str("WAGATE_JWT_KEY", ""),
		SecretKey:           r.str("WAGATE_SECRET_KEY", ""),
		Simulator:           r.bool("WAGATE_SIMULATOR", false),
		SendTimeout:         r.duration("WAGATE_SEND_TIMEOUT", 5*time.Minute),
		WebhookAllowPrivate: r.bool("WAGATE_WEBHOOK_ALLOW_PRIVATE", false),
		MaxAttempts:         int(r.int64("WAGATE_MAX_ATTEMPTS", 8, 1)),
		StreamMaxLen:        r.int64("WAGATE_STREAM_MAXLEN", 1_000_000, 0),
		CloudAPIBaseURL:     r.str("WAGATE_CLOUD_API_BASE_URL", "https://graph.facebook.com"),
		MediaDir:            r.str("WAGATE_MEDIA_DIR", "./data/media"),
		MaxMediaBytes:       r.int64("WAGATE_MAX_MEDIA_BYTES", 16<<20, 1),
		MediaAllowPrivate:   r.bool("WAGATE_MEDIA_ALLOW_PRIVATE", false),
		WSReplayWindow:      r.duration("WAGATE_WS_REPLAY_WINDOW", 24*time.Hour),
		WSMaxConnections:    int(r.int64("WAGATE_WS_MAX_CONNECTIONS", 100, 1)),
	}
	if r.err != nil {
		return Config{}, r.err
	}
	if err := c.validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

func (c *Config) validate() error {
	if _, port, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return fmt.Errorf("WAGATE_HTTP_ADDR: %q is not host:port: %w", c.HTTPAddr, err)
	} else if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return fmt.Errorf("WAGATE_HTTP_ADDR: %q has no valid port (0-65535)", c.HTTPAddr)
	}
	if c.DatabaseURL == "" {
		return errors.New("WAGATE_DATABASE_URL: must not be empty")
	}
	if c.Postgres() {
		if _, err := url.Parse(c.DatabaseURL); err != nil {
			return fmt.Errorf("WAGATE_DATABASE_URL: not a valid URL: %w", err)
		}
	} else if i := strings.Index(c.DatabaseURL, "://"); i >= 0 && c.DatabaseURL[:i] != "file" {
		// Anything else is an SQLite path; a foreign scheme (mysql://…) is a
		// mistake, not a file name.
		return fmt.Errorf("WAGATE_DATABASE_URL: scheme %q is not supported (use postgres:// or an SQLite file path)", c.DatabaseURL[:i])
	}
	if c.RedisURL != "" {
		u, err := url.Parse(c.RedisURL)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			return fmt.Errorf("WAGATE_REDIS_URL: %q is not a redis:// or rediss:// URL", c.RedisURL)
		}
		if !c.Postgres() {
			return errors.New("WAGATE_REDIS_URL: distributed mode needs a postgres:// WAGATE_DATABASE_URL")
		}
	}
	for name, raw := range map[string]string{
		"WAGATE_PUBLIC_URL":         c.PublicURL,
		"WAGATE_CLOUD_API_BASE_URL": c.CloudAPIBaseURL,
	} {
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s: %q is not an http(s) URL", name, raw)
		}
	}
	if c.SMTPURL != "" {
		u, err := url.Parse(c.SMTPURL)
		if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
			return fmt.Errorf("WAGATE_SMTP_URL: %q is not an smtp://user:pass@host:port URL", c.SMTPURL)
		}
	}
	if _, err := mail.ParseAddress(c.MailFrom); err != nil {
		return fmt.Errorf("WAGATE_MAIL_FROM: %q is not a mail address such as \"wagate <no-reply@example.com>\"", c.MailFrom)
	}
	if c.PublicURL == "" {
		host, port, _ := net.SplitHostPort(c.HTTPAddr)
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "localhost"
		}
		c.PublicURL = "http://" + net.JoinHostPort(host, port)
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	return nil
}

// reader collects the first error so Load reads as a flat list of fields.
type reader struct {
	lookup func(string) (string, bool)
	err    error
}

func (r *reader) raw(name string) (string, bool) {
	v, ok := r.lookup(name)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

func (r *reader) fail(name, value, why string) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %q %s", name, value, why)
	}
}

func (r *reader) str(name, def string) string {
	if v, ok := r.raw(name); ok {
		return v
	}
	return def
}

func (r *reader) oneOf(name, def string, allowed ...string) string {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	v = strings.ToLower(v)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.fail(name, v, "must be one of "+strings.Join(allowed, ", "))
	return def
}

func (r *reader) bool(name string, def bool) bool {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(name, v, "is not a boolean (true or false)")
		return def
	}
	return b
}

func (r *reader) int64(name string, def, min int64) int64 {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		r.fail(name, v, "is not a whole number")
		return def
	}
	if n < min {
		r.fail(name, v, fmt.Sprintf("must be at least %d", min))
		return def
	}
	return n
}

func (r *reader) duration(name string, def time.Duration) time.Duration {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		r.fail(name, v, "is not a duration such as 30s or 5m")
		return def
	}
	if d <= 0 {
		r.fail(name, v, "must be positive")
		return def
	}
	return d
}

func (r *reader) level(name string, def slog.Level) slog.Level {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		r.fail(name, v, "must be debug, info, warn or error")
		return def
	}
	return l
}
