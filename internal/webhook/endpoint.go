// Package webhook delivers a tenant's domain events to the URLs it
// registers: signed POSTs of the event envelope, stored before they are
// sent, retried with exponential backoff for a day, the same event id on
// every retry, and never to loopback, private or metadata addresses unless
// the operator allows it.
package webhook

import (
	"crypto/rand"
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/wagate/wagate/internal/apperr"
	"github.com/wagate/wagate/internal/eventlog"
)

// Limits on what an endpoint may hold.
const (
	maxURLLength   = 2048
	maxPatterns    = 50
	minSecretLen   = 16
	maxSecretLen   = 200
	secretPrefix   = "whsec_"
	secretRandSize = 32
)

// Errors of the endpoint aggregate.
var (
	ErrEndpointNotFound = apperr.NotFound("webhook-endpoint-not-found", "webhook endpoint not found")
	ErrInvalidURL       = apperr.Invalid("invalid-webhook-url", "url must be an absolute http or https URL")
	ErrInvalidEvents    = apperr.Invalid("invalid-webhook-events",
		`events must list event types or prefixes ending in ".*" (e.g. ["message.received","session.*"], or ["*"] for all)`)
	ErrInvalidSecret = apperr.Invalid("invalid-webhook-secret",
		"secret must be 16 to 200 printable ASCII characters without spaces")
	ErrTooManyEndpoints = apperr.Unprocessable("too-many-webhook-endpoints", "too many webhook endpoints for this account")
)

// Endpoint is a URL a tenant registered to receive its events. Fields are
// unexported so every change goes through a method that keeps it valid.
type Endpoint struct {
	id             string
	tenantID       string
	url            string
	events         []string
	secret         string
	enabled        bool
	disabledReason string
	failingSince   time.Time
	createdAt      time.Time
	updatedAt      time.Time
}

// NewEndpoint validates a new endpoint. An empty secret is replaced by a
// generated one (shown to the caller once, on creation).
func NewEndpoint(id, tenantID, rawURL string, events []string, secret string, now time.Time) (*Endpoint, error) {
	if id == "" || tenantID == "" {
		return nil, apperr.Invalid("invalid-webhook-endpoint", "endpoint needs an id and a tenant")
	}
	u, err := normalizeURL(rawURL)
	if err != nil {
		return nil, err
	}
	evs, err := normalizeEvents(events)
	if err != nil {
		return nil, err
	}
	if secret == "" {
		secret = GenerateSecret()
	} else if !validSecret(secret) {
		return nil, ErrInvalidSecret
	}
	now = now.UTC().Truncate(time.Millisecond)
	return &Endpoint{
		id: id, tenantID: tenantID, url: u, events: evs, secret: secret, enabled: true,
		createdAt: now, updatedAt: now,
	}, nil
}

// LoadEndpoint rebuilds an endpoint from stored fields. It is not a
// constructor: it trusts the database and validates nothing.
func LoadEndpoint(id, tenantID, rawURL string, events []string, secret string, enabled bool,
	disabledReason string, failingSince, createdAt, updatedAt time.Time) *Endpoint {
	return &Endpoint{
		id: id, tenantID: tenantID, url: rawURL, events: events, secret: secret, enabled: enabled,
		disabledReason: disabledReason, failingSince: failingSince, createdAt: createdAt, updatedAt: updatedAt,
	}
}

// ID is the endpoint's id.
func (e *Endpoint) ID() string { return e.id }

// TenantID is the owner.
func (e *Endpoint) TenantID() string { return e.tenantID }

// URL is where deliveries are POSTed.
func (e *Endpoint) URL() string { return e.url }

// Events are the event-type patterns the endpoint receives.
func (e *Endpoint) Events() []string { return slices.Clone(e.events) }

// Secret is the HMAC key of the signatures.
func (e *Endpoint) Secret() string { return e.secret }

// Enabled reports whether the endpoint receives deliveries.
func (e *Endpoint) Enabled() bool { return e.enabled }

// DisabledReason says why a disabled endpoint was switched off.
func (e *Endpoint) DisabledReason() string { return e.disabledReason }

// FailingSince is the start of the current run of failed attempts (zero
// when the last attempt succeeded).
func (e *Endpoint) FailingSince() time.Time { return e.failingSince }

// CreatedAt is when the endpoint was registered.
func (e *Endpoint) CreatedAt() time.Time { return e.createdAt }

// UpdatedAt is the last change.
func (e *Endpoint) UpdatedAt() time.Time { return e.updatedAt }

// Wants reports whether the endpoint receives events of this type.
func (e *Endpoint) Wants(eventType string) bool {
	return e.enabled && eventlog.MatchType(e.events, eventType)
}

// EndpointChanges is a partial update; nil fields stay as they are.
type EndpointChanges struct {
	URL     *string
	Events  []string
	Secret  *string
	Enabled *bool
}

// Apply changes the endpoint. Enabling a disabled endpoint forgets its
// failure history, so it gets a fresh day before being disabled again.
func (e *Endpoint) Apply(c EndpointChanges, now time.Time) error {
	next := *e
	if c.URL != nil {
		u, err := normalizeURL(*c.URL)
		if err != nil {
			return err
		}
		next.url = u
	}
	if c.Events != nil {
		evs, err := normalizeEvents(c.Events)
		if err != nil {
			return err
		}
		next.events = evs
	}
	if c.Secret != nil {
		if !validSecret(*c.Secret) {
			return ErrInvalidSecret
		}
		next.secret = *c.Secret
	}
	if c.Enabled != nil && *c.Enabled != e.enabled {
		next.enabled = *c.Enabled
		next.failingSince = time.Time{}
		next.disabledReason = ""
		if !next.enabled {
			next.disabledReason = "disabled by the user"
		}
	}
	next.updatedAt = now.UTC().Truncate(time.Millisecond)
	*e = next
	return nil
}

// GenerateSecret returns a fresh random signing secret.
func GenerateSecret() string {
	b := make([]byte, secretRandSize)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return secretPrefix + base64.RawURLEncoding.EncodeToString(b)
}

func normalizeURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > maxURLLength {
		return "", ErrInvalidURL
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Opaque != "" {
		return "", ErrInvalidURL
	}
	if u.Fragment != "" {
		return "", ErrInvalidURL.WithMessage("url must not have a #fragment")
	}
	return u.String(), nil
}

func normalizeEvents(events []string) ([]string, error) {
	if len(events) == 0 || len(events) > maxPatterns {
		return nil, ErrInvalidEvents
	}
	out := make([]string, 0, len(events))
	for _, p := range events {
		p = strings.TrimSpace(p)
		if !eventlog.ValidTypePattern(p) {
			return nil, ErrInvalidEvents.WithMessage("events: %q is not an event type or a prefix ending in .*", p)
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

func validSecret(s string) bool {
	if len(s) < minSecretLen || len(s) > maxSecretLen {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r > '~' {
			return false
		}
	}
	return true
}
