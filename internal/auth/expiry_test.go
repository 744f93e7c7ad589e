package auth_test

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/wagate/wagate/internal/auth"
	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/observe"
	"github.com/wagate/wagate/internal/testenv"
)

// TestExpiry moves the clock, so every subtest has its own harness.
func TestExpiry(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()

			t.Run("AccessTokenExpiresAfter15Minutes", func(t *testing.T) {
				t.Parallel()
				h := newHarness(t, d, harnessOptions{})
				_, pair := h.signUp(t, "exp@example.com")
				h.clock.Advance(14 * time.Minute)
				h.do(t, "GET", "/me", nil, bearer(pair.AccessToken)...).expectStatus(t, http.StatusOK)
				h.clock.Advance(2 * time.Minute)
				h.do(t, "GET", "/me", nil, bearer(pair.AccessToken)...).expectProblem(t, http.StatusUnauthorized, "access-token-expired")
				// The refresh token still gets a fresh one.
				res := h.do(t, "POST", "/auth/refresh", map[string]string{"refreshToken": pair.RefreshToken})
				res.expectStatus(t, http.StatusOK)
				var next tokenPair
				res.decode(t, &next)
				h.do(t, "GET", "/me", nil, bearer(next.AccessToken)...).expectStatus(t, http.StatusOK)
			})

			t.Run("VerificationLinkExpiresAfter24Hours", func(t *testing.T) {
				t.Parallel()
				h := newHarness(t, d, harnessOptions{})
				email := "late@example.com"
				h.register(t, email)
				token := h.nextMail(t, email).Token()
				h.clock.Advance(24*time.Hour + time.Minute)
				h.do(t, "POST", "/auth/verify", map[string]string{"token": token}).expectProblem(t, http.StatusBadRequest, "invalid-token")
				// A new link works.
				h.do(t, "POST", "/auth/verify/resend", map[string]string{"email": email}).expectStatus(t, http.StatusAccepted)
				fresh := h.nextMail(t, email).Token()
				h.do(t, "POST", "/auth/verify", map[string]string{"token": fresh}).expectStatus(t, http.StatusOK)
			})

			t.Run("ResetLinkExpiresAfter1Hour", func(t *testing.T) {
				t.Parallel()
				h := newHarness(t, d, harnessOptions{})
				email := "slow@example.com"
				h.signUp(t, email)
				h.do(t, "POST", "/auth/password/forgot", map[string]string{"email": email}).expectStatus(t, http.StatusAccepted)
				token := h.nextMail(t, email).Token()
				h.clock.Advance(time.Hour + time.Minute)
				h.do(t, "POST", "/auth/password/reset", map[string]string{"token": token, "password": "a new password!"}).
					expectProblem(t, http.StatusBadRequest, "invalid-token")
				h.login(t, email, password)
			})

			t.Run("RefreshTokenExpiresAfter30Days", func(t *testing.T) {
				t.Parallel()
				h := newHarness(t, d, harnessOptions{})
				_, pair := h.signUp(t, "month@example.com")
				h.clock.Advance(30*24*time.Hour + time.Minute)
				h.do(t, "POST", "/auth/refresh", map[string]string{"refreshToken": pair.RefreshToken}).
					expectProblem(t, http.StatusUnauthorized, "invalid-refresh-token")
			})

			t.Run("OnlyASpentTokenRaisesTheReuseAlarm", func(t *testing.T) {
				t.Parallel()
				h := newHarness(t, d, harnessOptions{})
				_, pair := h.signUp(t, "alarm@example.com")
				h.do(t, "POST", "/auth/logout", map[string]string{"refreshToken": pair.RefreshToken}).expectStatus(t, http.StatusNoContent)
				h.do(t, "POST", "/auth/refresh", map[string]string{"refreshToken": pair.RefreshToken}).
					expectProblem(t, http.StatusUnauthorized, "invalid-refresh-token")
				if n := h.counter(t, "wagate_auth_refresh_reuse_total", ""); n != 0 {
					t.Fatalf("a logged-out token counted as reuse (%v)", n)
				}
				spent := h.login(t, "alarm@example.com", password)
				h.do(t, "POST", "/auth/refresh", map[string]string{"refreshToken": spent.RefreshToken}).expectStatus(t, http.StatusOK)
				h.do(t, "POST", "/auth/refresh", map[string]string{"refreshToken": spent.RefreshToken}).
					expectProblem(t, http.StatusUnauthorized, "invalid-refresh-token")
				if n := h.counter(t, "wagate_auth_refresh_reuse_total", ""); n != 1 {
					t.Fatalf("reuse counted %v times, want 1", n)
				}
			})

			t.Run("RepeatedRequestsDoNotFloodTheMailbox", func(t *testing.T) {
				t.Parallel()
				h := newHarness(t, d, harnessOptions{})
				email := "flood@example.com"
				h.register(t, email)
				first := h.nextMail(t, email).Token()
				for range 3 {
					h.do(t, "POST", "/auth/verify/resend", map[string]string{"email": email}).expectStatus(t, http.StatusAccepted)
				}
				h.register(t, email)
				h.noMail(t, email)
				h.clock.Advance(2 * time.Minute)
				h.do(t, "POST", "/auth/verify/resend", map[string]string{"email": email}).expectStatus(t, http.StatusAccepted)
				second := h.nextMail(t, email).Token()
				if second == "" || second == first {
					t.Fatalf("resend after the cooldown mailed token %q (first %q)", second, first)
				}
				// Both links are valid; the first one used wins, the other is spent with it.
				h.do(t, "POST", "/auth/verify", map[string]string{"token": second}).expectStatus(t, http.StatusOK)
				h.do(t, "POST", "/auth/verify", map[string]string{"token": first}).expectProblem(t, http.StatusBadRequest, "invalid-token")
			})

			t.Run("LoginIsRateLimitedPerEmail", func(t *testing.T) {
				t.Parallel()
				h := newHarness(t, d, harnessOptions{emailLimit: auth.Limit{Max: 3, Window: 15 * time.Minute}})
				email := "brute@example.com"
				h.signUp(t, email)
				for range 3 {
					h.do(t, "POST", "/auth/login", map[string]string{"email": email, "password": "guess guess"}).
						expectProblem(t, http.StatusUnauthorized, "invalid-credentials")
				}
				// Even the right password waits now: the limit is checked first.
				res := h.do(t, "POST", "/auth/login", map[string]string{"email": email, "password": password})
				res.expectProblem(t, http.StatusTooManyRequests, "too-many-attempts")
				if s, err := strconv.Atoi(res.header.Get("Retry-After")); err != nil || s < 1 || s > 15*60 {
					t.Fatalf("Retry-After = %q", res.header.Get("Retry-After"))
				}
				if n := h.counter(t, "wagate_auth_logins_total", "rate_limited"); n != 1 {
					t.Fatalf("rate-limited logins counted %v, want 1", n)
				}
				// An unknown email is limited exactly the same way.
				for range 3 {
					h.do(t, "POST", "/auth/login", map[string]string{"email": "ghost@example.com", "password": "guess guess"}).
						expectProblem(t, http.StatusUnauthorized, "invalid-credentials")
				}
				h.do(t, "POST", "/auth/login", map[string]string{"email": "ghost@example.com", "password": "guess guess"}).
					expectProblem(t, http.StatusTooManyRequests, "too-many-attempts")
				// Other emails are not affected; the window passes.
				h.signUp(t, "innocent@example.com")
				h.clock.Advance(16 * time.Minute)
				h.login(t, email, password)
			})

			t.Run("LoginIsRateLimitedPerClientAddress", func(t *testing.T) {
				t.Parallel()
				h := newHarness(t, d, harnessOptions{addressLimit: auth.Limit{Max: 4, Window: time.Hour}})
				h.signUp(t, "spray@example.com")
				for i := range 4 {
					h.do(t, "POST", "/auth/login", map[string]string{"email": "victim" + strconv.Itoa(i) + "@example.com", "password": "guess guess"}).
						expectProblem(t, http.StatusUnauthorized, "invalid-credentials")
				}
				res := h.do(t, "POST", "/auth/login", map[string]string{"email": "spray@example.com", "password": password})
				res.expectProblem(t, http.StatusTooManyRequests, "too-many-attempts")
				if res.header.Get("Retry-After") == "" {
					t.Fatal("429 without Retry-After")
				}
			})
		})
	}
}

// TestSigningKeySurvivesRestarts checks that a generated key is stored once
// and found again, so a restart (or a second API process) keeps sessions.
func TestSigningKeySurvivesRestarts(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, d, harnessOptions{})
			_, pair := h.signUp(t, "restart@example.com")
			again, err := auth.LoadSigningKey(context.Background(), h.db, "")
			if err != nil {
				t.Fatal(err)
			}
			if again.ID() != h.key.ID() {
				t.Fatalf("key id after restart %s, before %s", again.ID(), h.key.ID())
			}
			tokens := auth.NewAccessTokens(again, issuer, "wagate", 15*time.Minute, time.Now)
			if _, err := tokens.Verify(pair.AccessToken); err != nil {
				t.Fatalf("a token from before the restart no longer verifies: %v", err)
			}
		})
	}
}

// TestMailThroughTheEventLog runs the mail subscriber under the real
// embedded event log, reads the verification mail from the SMTP server,
// follows the link and logs in.
func TestMailThroughTheEventLog(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, d, harnessOptions{})
			log, err := eventlog.NewEmbeddedLog(h.db, eventlog.Config{PollInterval: 50 * time.Millisecond},
				slog.New(slog.DiscardHandler), observe.NewMetrics())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- log.Run(ctx, h.deliverer.Subscription()) }()
			t.Cleanup(func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("event log: %v", err)
				}
			})

			email := "e2e@example.com"
			h.register(t, email)
			m := h.smtp.Next(t, email, 15*time.Second)
			if m.Subject != "Verify your email address for wagate" {
				t.Fatalf("subject %q", m.Subject)
			}
			h.do(t, "POST", "/auth/verify", map[string]string{"token": m.Token()}).expectStatus(t, http.StatusOK)
			pair := h.login(t, email, password)
			h.do(t, "GET", "/me", nil, bearer(pair.AccessToken)...).expectStatus(t, http.StatusOK)

			// The subscriber erased the token once the mail was out.
			deadline := time.Now().Add(10 * time.Second)
			for {
				var pending int
				if err := h.db.SQL.QueryRow(`SELECT COUNT(*) FROM outgoing_mail WHERE token IS NOT NULL`).Scan(&pending); err != nil {
					t.Fatal(err)
				}
				if pending == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d mails still hold their token", pending)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
