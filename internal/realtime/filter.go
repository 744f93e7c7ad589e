package realtime

import (
	"net/url"
	"strings"

	"github.com/google/uuid"

	"github.com/wagate/wagate/internal/apperr"
	"github.com/wagate/wagate/internal/eventlog"
)

// Limits on what a client may ask for, so a query string cannot make the hub
// do unbounded work per event.
const (
	maxTypePatterns = 32
	maxSessionID    = 100
)

// Filter selects the events one connection receives. TenantID is always set
// (from the caller's credentials); the rest are optional narrowing.
type Filter struct {
	TenantID  string
	SessionID string
	// Types holds exact event types or prefixes ending in ".*"; empty means
	// every type (eventlog.MatchType).
	Types []string
}

// Matches reports whether env belongs to this filter.
func (f Filter) Matches(env eventlog.Envelope) bool {
	if env.TenantID != f.TenantID {
		return false
	}
	if f.SessionID != "" && env.SessionID != f.SessionID {
		return false
	}
	return eventlog.MatchType(f.Types, env.Type)
}

// request is what a client asked for in the query string.
type request struct {
	filter Filter
	// since is the id of the last event the client saw; empty for live only.
	since string
}

// parseRequest reads ?sessionId=, ?types= (comma-separated, may repeat) and
// ?since= for the given tenant.
func parseRequest(tenantID string, q url.Values) (request, error) {
	req := request{filter: Filter{TenantID: tenantID}}
	req.filter.SessionID = strings.TrimSpace(q.Get("sessionId"))
	if len(req.filter.SessionID) > maxSessionID {
		return request{}, apperr.Invalid("invalid-session-id", "sessionId is too long")
	}
	for _, raw := range q["types"] {
		for _, p := range strings.Split(raw, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			if !eventlog.ValidTypePattern(p) {
				return request{}, apperr.Invalid("invalid-types",
					"types must be event types or prefixes ending in .* (e.g. session.*,message.received)")
			}
			req.filter.Types = append(req.filter.Types, p)
		}
	}
	if len(req.filter.Types) > maxTypePatterns {
		return request{}, apperr.Invalid("invalid-types", "too many types (at most 32)")
	}
	if since := strings.TrimSpace(q.Get("since")); since != "" {
		if _, err := uuid.Parse(since); err != nil {
			return request{}, apperr.Invalid("invalid-since", "since must be the id of an event received earlier")
		}
		req.since = since
	}
	return req, nil
}
