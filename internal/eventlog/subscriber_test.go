package eventlog_test

import (
	"strings"
	"testing"

	"github.com/wagate/wagate/internal/eventlog"
)

func TestTypePatterns(t *testing.T) {
	t.Parallel()
	t.Run("ValidPatternsAreAccepted", func(t *testing.T) {
		for _, p := range []string{"*", "message.received", "session.*", "session.status.*", "webhook.endpoint_disabled-2"} {
			if !eventlog.ValidTypePattern(p) {
				t.Errorf("ValidTypePattern(%q) = false", p)
			}
		}
	})
	t.Run("MalformedPatternsAreRefused", func(t *testing.T) {
		for _, p := range []string{"", ".*", "session..status", ".session", "session.", "sess*", "a b", "*.x",
			strings.Repeat("a", 101)} {
			if eventlog.ValidTypePattern(p) {
				t.Errorf("ValidTypePattern(%q) = true", p)
			}
		}
	})
	t.Run("MatchTypeFollowsPatterns", func(t *testing.T) {
		cases := []struct {
			patterns []string
			typ      string
			want     bool
		}{
			{nil, "message.received", true},
			{[]string{"*"}, "message.received", true},
			{[]string{"session.*"}, "session.status.connected", true},
			{[]string{"session.*"}, "message.received", false},
			{[]string{"message.sent", "message.received"}, "message.received", true},
			{[]string{"message.sent"}, "message.sent.extra", false},
		}
		for _, c := range cases {
			if got := eventlog.MatchType(c.patterns, c.typ); got != c.want {
				t.Errorf("MatchType(%v, %q) = %v, want %v", c.patterns, c.typ, got, c.want)
			}
		}
	})
}
