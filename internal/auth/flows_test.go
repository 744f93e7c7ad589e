package auth_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wagate/wagate/internal/auth"
	"github.com/wagate/wagate/internal/mail"
	"github.com/wagate/wagate/internal/testenv"
)

var uuidShape = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

type me struct {
	ID     string `json:"id"`
	Email  string `json:"email"`
	Status string `json:"status"`
}

// TestFlows runs every user and auth flow over HTTP against both storage
// modes. Subtests share one server and database and stay independent by
// using their own email addresses.
func TestFlows(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, d, harnessOptions{})

			t.Run("SignUpVerifyLogInWithTheMailedLink", func(t *testing.T) {
				t.Parallel()
				email := "ada@example.com"
				res := h.do(t, "POST", "/auth/register", map[string]string{"email": "  Ada@Example.com ", "password": password})
				res.expectStatus(t, http.StatusCreated)
				var r registered
				res.decode(t, &r)
				if !uuidShape.MatchString(r.UserID) || r.Status != "pending_verification" {
					t.Fatalf("register answered %s", res.body)
				}

				m := h.nextMail(t, email)
				if !strings.HasPrefix(m.Link(), issuer+"/auth/verify?token=") || m.Token() == "" {
					t.Fatalf("verification link = %q", m.Link())
				}
				if !strings.Contains(m.HTML, "/auth/verify?token=") {
					t.Fatalf("HTML part without the link: %s", m.HTML)
				}
				// The link opens a page that does nothing by itself.
				page := h.do(t, "GET", "/auth/verify?token="+m.Token(), nil)
				page.expectStatus(t, http.StatusOK)
				if !strings.Contains(page.header.Get("Content-Type"), "text/html") || page.header.Get("Referrer-Policy") != "no-referrer" {
					t.Fatalf("verify page headers = %v", page.header)
				}

				res = h.do(t, "POST", "/auth/verify", map[string]string{"token": m.Token()})
				res.expectStatus(t, http.StatusOK)
				var v registered
				res.decode(t, &v)
				if v.UserID != r.UserID || v.Status != "active" {
					t.Fatalf("verify answered %s", res.body)
				}

				res = h.do(t, "POST", "/auth/login", map[string]string{"email": email, "password": password})
				res.expectStatus(t, http.StatusOK)
				if res.header.Get("Cache-Control") != "no-store" {
					t.Errorf("token answer Cache-Control = %q, want no-store", res.header.Get("Cache-Control"))
				}
				var pair tokenPair
				res.decode(t, &pair)
				if pair.TokenType != "Bearer" || pair.ExpiresIn != 900 || pair.AccessToken == "" || len(pair.RefreshToken) < 43 {
					t.Fatalf("login answered %s", res.body)
				}

				res = h.do(t, "GET", "/me", nil, bearer(pair.AccessToken)...)
				res.expectStatus(t, http.StatusOK)
				var got me
				res.decode(t, &got)
				if got.ID != r.UserID || got.Email != email || got.Status != "active" {
					t.Fatalf("/me = %s", res.body)
				}

				// Events go to domain-events with the user as tenant, and
				// nothing on any stream carries the token.
				var types []string
				for _, row := range h.outboxRows(t, r.UserID) {
					if strings.Contains(row[2], m.Token()) {
						t.Fatalf("outbox row %s %s carries the verification token", row[0], row[1])
					}
					switch row[0] {
					case "domain-events":
						types = append(types, row[1])
					case mail.Commands:
						var data map[string]any
						if err := json.Unmarshal([]byte(row[2]), &data); err != nil || len(data) != 1 || data["mailId"] == nil {
							t.Fatalf("mail command data = %s, want only mailId", row[2])
						}
					default:
						t.Fatalf("unexpected stream %q", row[0])
					}
				}
				if strings.Join(types, ",") != "user.registered,user.verified" {
					t.Fatalf("domain events = %v", types)
				}
			})

			t.Run("UnverifiedUserGets403OnlyWithTheRightPassword", func(t *testing.T) {
				t.Parallel()
				email := "pending@example.com"
				h.register(t, email)
				h.do(t, "POST", "/auth/login", map[string]string{"email": email, "password": password}).
					expectProblem(t, http.StatusForbidden, "email-not-verified")
				h.do(t, "POST", "/auth/login", map[string]string{"email": email, "password": "wrong password"}).
					expectProblem(t, http.StatusUnauthorized, "invalid-credentials")
			})

			t.Run("LoginFailuresLookAlike", func(t *testing.T) {
				t.Parallel()
				email := "known@example.com"
				h.signUp(t, email)
				wrong := h.do(t, "POST", "/auth/login", map[string]string{"email": email, "password": "not the password"})
				unknown := h.do(t, "POST", "/auth/login", map[string]string{"email": "nobody@example.com", "password": "not the password"})
				malformed := h.do(t, "POST", "/auth/login", map[string]string{"email": "not-an-email", "password": "not the password"})
				wrong.expectProblem(t, http.StatusUnauthorized, "invalid-credentials")
				for _, other := range []response{unknown, malformed} {
					if other.status != wrong.status || string(other.body) != string(wrong.body) {
						t.Fatalf("failures differ:\n%d %s\n%d %s", wrong.status, wrong.body, other.status, other.body)
					}
				}
			})

			t.Run("RegisteringATakenEmailLooksLikeANewAccount", func(t *testing.T) {
				t.Parallel()
				email := "taken@example.com"
				first, _ := h.signUp(t, email)
				res := h.do(t, "POST", "/auth/register", map[string]string{"email": email, "password": "another password"})
				res.expectStatus(t, http.StatusCreated)
				var again registered
				res.decode(t, &again)
				if !uuidShape.MatchString(again.UserID) || again.UserID == first || again.Status != "pending_verification" {
					t.Fatalf("second register answered %s (first id %s)", res.body, first)
				}
				m := h.nextMail(t, email)
				if m.Token() != "" || !strings.Contains(m.Subject, "already have") {
					t.Fatalf("owner got %q with link %q, want the account-exists notice", m.Subject, m.Link())
				}
				// Nothing changed: the old password still works, the new one does not.
				h.login(t, email, password)
				h.do(t, "POST", "/auth/login", map[string]string{"email": email, "password": "another password"}).
					expectProblem(t, http.StatusUnauthorized, "invalid-credentials")
			})

			t.Run("ResendAndForgotAnswerAlikeForUnknownEmails", func(t *testing.T) {
				t.Parallel()
				known := "resend@example.com"
				h.register(t, known)
				h.nextMail(t, known)
				for _, path := range []string{"/auth/verify/resend", "/auth/password/forgot"} {
					a := h.do(t, "POST", path, map[string]string{"email": known})
					b := h.do(t, "POST", path, map[string]string{"email": "ghost@example.com"})
					if a.status != http.StatusAccepted || b.status != a.status || string(a.body) != string(b.body) {
						t.Fatalf("%s: known %d %q, unknown %d %q", path, a.status, a.body, b.status, b.body)
					}
				}
				h.noMail(t, "ghost@example.com")
			})

			t.Run("VerificationTokenIsSingleUse", func(t *testing.T) {
				t.Parallel()
				email := "once@example.com"
				h.register(t, email)
				token := h.nextMail(t, email).Token()
				h.do(t, "POST", "/auth/verify", map[string]string{"token": token}).expectStatus(t, http.StatusOK)
				h.do(t, "POST", "/auth/verify", map[string]string{"token": token}).expectProblem(t, http.StatusBadRequest, "invalid-token")
				h.do(t, "POST", "/auth/verify", map[string]string{"token": "made-up"}).expectProblem(t, http.StatusBadRequest, "invalid-token")
			})

			t.Run("PasswordResetRevokesEverySession", func(t *testing.T) {
				t.Parallel()
				email := "reset@example.com"
				userID, first := h.signUp(t, email)
				second := h.login(t, email, password)

				h.do(t, "POST", "/auth/password/forgot", map[string]string{"email": email}).expectStatus(t, http.StatusAccepted)
				m := h.nextMail(t, email)
				if !strings.HasPrefix(m.Link(), issuer+"/auth/password/reset?token=") {
					t.Fatalf("reset link = %q", m.Link())
				}
				token := m.Token()
				h.do(t, "POST", "/auth/password/reset", map[string]string{"token": token, "password": "short"}).
					expectProblem(t, http.StatusBadRequest, "invalid-password")
				res := h.do(t, "POST", "/auth/password/reset", map[string]string{"token": token, "password": "a brand new password"})
				res.expectStatus(t, http.StatusNoContent)

				for _, p := range []tokenPair{first, second} {
					h.do(t, "POST", "/auth/refresh", map[string]string{"refreshToken": p.RefreshToken}).
						expectProblem(t, http.StatusUnauthorized, "invalid-refresh-token")
				}
				h.do(t, "POST", "/auth/login", map[string]string{"email": email, "password": password}).
					expectProblem(t, http.StatusUnauthorized, "invalid-credentials")
				h.login(t, email, "a brand new password")
				h.do(t, "POST", "/auth/password/reset", map[string]string{"token": token, "password": "yet another password"}).
					expectProblem(t, http.StatusBadRequest, "invalid-token")
				if got := h.nextMail(t, email); !strings.Contains(got.Subject, "changed") {
					t.Fatalf("after reset the owner got %q, want the password-changed notice", got.Subject)
				}

				var types []string
				for _, row := range h.outboxRows(t, userID) {
					if strings.Contains(row[2], token) {
						t.Fatalf("outbox row %s %s carries the reset token", row[0], row[1])
					}
					if row[0] == "domain-events" {
						types = append(types, row[1])
					}
				}
				want := "user.registered,user.verified,user.password_reset_requested,user.password_changed"
				if strings.Join(types, ",") != want {
					t.Fatalf("domain events = %v, want %s", types, want)
				}
			})

			t.Run("RefreshRotatesAndReuseRevokesTheFamily", func(t *testing.T) {
				t.Parallel()
				email := "rotate@example.com"
				_, first := h.signUp(t, email)
				other := h.login(t, email, password) // another session, must survive

				res := h.do(t, "POST", "/auth/refresh", map[string]string{"refreshToken": first.RefreshToken})
				res.expectStatus(t, http.StatusOK)
				var second tokenPair
				res.decode(t, &second)
				if second.RefreshToken == first.RefreshToken || second.AccessToken == "" || second.TokenType != "Bearer" {
					t.Fatalf("refresh answered %s", res.body)
				}
				h.do(t, "GET", "/me", nil, bearer(second.AccessToken)...).expectStatus(t, http.StatusOK)

				// The spent token comes back: someone has a copy.
				h.do(t, "POST", "/auth/refresh", map[string]string{"refreshToken": first.RefreshToken}).
					expectProblem(t, http.StatusUnauthorized, "invalid-refresh-token")
				// The legitimate successor died with its family…
				h.do(t, "POST", "/auth/refresh", map[string]string{"refreshToken": second.RefreshToken}).
					expectProblem(t, http.StatusUnauthorized, "invalid-refresh-token")
				// …but another login's session did not.
				h.do(t, "POST", "/auth/refresh", map[string]string{"refreshToken": other.RefreshToken}).
					expectStatus(t, http.StatusOK)
				if n := h.counter(t, "wagate_auth_refresh_reuse_total", ""); n < 1 {
					t.Fatal("the reuse was not counted")
				}
			})

			t.Run("LogoutRevokesTheSession", func(t *testing.T) {
				t.Parallel()
				_, pair := h.signUp(t, "logout@example.com")
				h.do(t, "POST", "/auth/logout", map[string]string{"refreshToken": pair.RefreshToken}).expectStatus(t, http.StatusNoContent)
				h.do(t, "POST", "/auth/refresh", map[string]string{"refreshToken": pair.RefreshToken}).
					expectProblem(t, http.StatusUnauthorized, "invalid-refresh-token")
				// Logging out twice, or with garbage, is harmless.
				h.do(t, "POST", "/auth/logout", map[string]string{"refreshToken": pair.RefreshToken}).expectStatus(t, http.StatusNoContent)
				h.do(t, "POST", "/auth/logout", map[string]string{"refreshToken": "garbage"}).expectStatus(t, http.StatusNoContent)
			})

			t.Run("ForgedAccessTokensAreRejected", func(t *testing.T) {
				t.Parallel()
				userID, pair := h.signUp(t, "forge@example.com")
				victim, _ := h.signUp(t, "victim@example.com")
				now := time.Now()
				claims := jwt.RegisteredClaims{
					Issuer: issuer, Subject: victim, Audience: jwt.ClaimStrings{"wagate"},
					IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
				}
				sign := func(method jwt.SigningMethod, key any, c jwt.Claims, kid string) string {
					tok := jwt.NewWithClaims(method, c)
					tok.Header["kid"] = kid
					tok.Header["typ"] = "at+jwt"
					s, err := tok.SignedString(key)
					if err != nil {
						t.Fatal(err)
					}
					return s
				}
				seed := make([]byte, ed25519.SeedSize)
				if _, err := rand.Read(seed); err != nil {
					t.Fatal(err)
				}
				otherPriv := ed25519.NewKeyFromSeed(seed)
				otherKey, err := auth.NewSigningKey(seed)
				if err != nil {
					t.Fatal(err)
				}
				seg := strings.Split(pair.AccessToken, ".")
				payload, err := base64.RawURLEncoding.DecodeString(seg[1])
				if err != nil {
					t.Fatal(err)
				}
				tampered := seg[0] + "." + base64.RawURLEncoding.EncodeToString(
					[]byte(strings.Replace(string(payload), userID, victim, 1))) + "." + seg[2]
				noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt","kid":"` + h.key.ID() + `"}`))

				for name, token := range map[string]string{
					"Tampered":             tampered,
					"WrongKey":             sign(jwt.SigningMethodEdDSA, otherPriv, claims, h.key.ID()),
					"UnknownKeyID":         sign(jwt.SigningMethodEdDSA, otherPriv, claims, otherKey.ID()),
					"AlgNone":              noneHeader + "." + seg[1] + ".",
					"AlgNoneSigned":        sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims, h.key.ID()),
					"HMACWithThePublicKey": sign(jwt.SigningMethodHS256, []byte(h.key.Public()), claims, h.key.ID()),
					"Garbage":              "not.a.jwt",
				} {
					res := h.do(t, "GET", "/me", nil, bearer(token)...)
					if res.status != http.StatusUnauthorized {
						t.Errorf("%s: status %d body %s", name, res.status, res.body)
						continue
					}
					if p := res.problem(t); !strings.HasSuffix(p.Type, "/invalid-access-token") {
						t.Errorf("%s: problem %q", name, p.Type)
					}
					if res.header.Get("WWW-Authenticate") == "" {
						t.Errorf("%s: 401 without WWW-Authenticate", name)
					}
				}
				h.do(t, "GET", "/me", nil, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("a:b"))).
					expectProblem(t, http.StatusUnauthorized, "invalid-access-token")
				// The genuine token still works.
				h.do(t, "GET", "/me", nil, bearer(pair.AccessToken)...).expectStatus(t, http.StatusOK)
			})

			t.Run("MeNeedsCredentials", func(t *testing.T) {
				t.Parallel()
				h.do(t, "GET", "/me", nil).expectProblem(t, http.StatusUnauthorized, "unauthenticated")
				h.do(t, "GET", "/me", nil, apiKey("wag_not-a-real-key")...).expectProblem(t, http.StatusUnauthorized, "invalid-api-key")
			})

			t.Run("APIKeys", func(t *testing.T) {
				t.Parallel()
				userID, pair := h.signUp(t, "keys@example.com")
				res := h.do(t, "POST", "/api-keys", map[string]string{"name": "CRM"}, bearer(pair.AccessToken)...)
				res.expectStatus(t, http.StatusCreated)
				var created struct {
					ID, Name, Prefix, Key string
				}
				res.decode(t, &created)
				if !strings.HasPrefix(created.Key, "wag_") || !strings.HasPrefix(created.Key, created.Prefix) ||
					len(created.Prefix) >= len(created.Key) || created.Name != "CRM" {
					t.Fatalf("create answered %s", res.body)
				}

				res = h.do(t, "GET", "/me", nil, apiKey(created.Key)...)
				res.expectStatus(t, http.StatusOK)
				var got me
				res.decode(t, &got)
				if got.ID != userID {
					t.Fatalf("/me with the key = %s", res.body)
				}

				res = h.do(t, "GET", "/api-keys", nil, apiKey(created.Key)...)
				res.expectStatus(t, http.StatusOK)
				if strings.Contains(string(res.body), created.Key) {
					t.Fatal("the list shows the secret")
				}
				var list struct {
					Items []struct {
						ID, Prefix string
						LastUsedAt *time.Time
					}
				}
				res.decode(t, &list)
				if len(list.Items) != 1 || list.Items[0].ID != created.ID || list.Items[0].Prefix != created.Prefix || list.Items[0].LastUsedAt == nil {
					t.Fatalf("list = %s", res.body)
				}

				// A key cannot mint more keys.
				h.do(t, "POST", "/api-keys", map[string]string{"name": "x"}, apiKey(created.Key)...).
					expectProblem(t, http.StatusForbidden, "access-token-required")

				h.do(t, "DELETE", "/api-keys/"+created.ID, nil, bearer(pair.AccessToken)...).expectStatus(t, http.StatusNoContent)
				h.do(t, "GET", "/me", nil, apiKey(created.Key)...).expectProblem(t, http.StatusUnauthorized, "invalid-api-key")
				h.do(t, "DELETE", "/api-keys/"+created.ID, nil, bearer(pair.AccessToken)...).expectProblem(t, http.StatusNotFound, "api-key-not-found")
				res = h.do(t, "GET", "/api-keys", nil, bearer(pair.AccessToken)...)
				res.decode(t, &list)
				if len(list.Items) != 0 {
					t.Fatalf("revoked key still listed: %s", res.body)
				}
			})

			t.Run("APIKeyListIsPaginated", func(t *testing.T) {
				t.Parallel()
				_, pair := h.signUp(t, "pages@example.com")
				for i := range 3 {
					h.do(t, "POST", "/api-keys", map[string]string{"name": "k" + strconv.Itoa(i)}, bearer(pair.AccessToken)...).
						expectStatus(t, http.StatusCreated)
				}
				var names []string
				cursor := ""
				for page := 0; ; page++ {
					if page > 3 {
						t.Fatal("pagination does not end")
					}
					res := h.do(t, "GET", "/api-keys?limit=2&cursor="+cursor, nil, bearer(pair.AccessToken)...)
					res.expectStatus(t, http.StatusOK)
					var list struct {
						Items      []struct{ Name string }
						NextCursor string
					}
					res.decode(t, &list)
					for _, it := range list.Items {
						names = append(names, it.Name)
					}
					if list.NextCursor == "" {
						break
					}
					cursor = list.NextCursor
				}
				if strings.Join(names, ",") != "k0,k1,k2" {
					t.Fatalf("paged names = %v", names)
				}
				h.do(t, "GET", "/api-keys?limit=0", nil, bearer(pair.AccessToken)...).expectStatus(t, http.StatusUnprocessableEntity)
			})

			t.Run("TenantsCannotReachEachOthersData", func(t *testing.T) {
				t.Parallel()
				aID, a := h.signUp(t, "tenant-a@example.com")
				bID, b := h.signUp(t, "tenant-b@example.com")
				res := h.do(t, "POST", "/api-keys", map[string]string{"name": "a"}, bearer(a.AccessToken)...)
				var aKey struct{ ID, Key string }
				res.decode(t, &aKey)
				res = h.do(t, "POST", "/api-keys", map[string]string{"name": "b"}, bearer(b.AccessToken)...)
				var bKey struct{ ID, Key string }
				res.decode(t, &bKey)

				for _, cred := range [][]string{bearer(b.AccessToken), apiKey(bKey.Key)} {
					res := h.do(t, "GET", "/me", nil, cred...)
					var got me
					res.decode(t, &got)
					if got.ID != bID {
						t.Fatalf("B's credentials read %s", res.body)
					}
					res = h.do(t, "GET", "/api-keys", nil, cred...)
					if strings.Contains(string(res.body), aKey.ID) {
						t.Fatalf("B's list shows A's key: %s", res.body)
					}
					h.do(t, "DELETE", "/api-keys/"+aKey.ID, nil, cred...).expectProblem(t, http.StatusNotFound, "api-key-not-found")
				}
				// A's key survived B's attempts.
				res = h.do(t, "GET", "/me", nil, apiKey(aKey.Key)...)
				var got me
				res.decode(t, &got)
				if got.ID != aID {
					t.Fatalf("A's key now reads %s", res.body)
				}
			})

			t.Run("SuspendedAccountCannotAct", func(t *testing.T) {
				t.Parallel()
				email := "suspended@example.com"
				userID, pair := h.signUp(t, email)
				res := h.do(t, "POST", "/api-keys", nil, bearer(pair.AccessToken)...) // the body is optional
				res.expectStatus(t, http.StatusCreated)
				var key struct{ Key string }
				res.decode(t, &key)
				if err := h.users.Suspend(context.Background(), userID); err != nil {
					t.Fatal(err)
				}
				h.do(t, "POST", "/auth/login", map[string]string{"email": email, "password": password}).
					expectProblem(t, http.StatusForbidden, "account-suspended")
				h.do(t, "POST", "/auth/login", map[string]string{"email": email, "password": "wrong password"}).
					expectProblem(t, http.StatusUnauthorized, "invalid-credentials")
				h.do(t, "GET", "/me", nil, apiKey(key.Key)...).expectProblem(t, http.StatusForbidden, "account-suspended")
				h.do(t, "POST", "/auth/refresh", map[string]string{"refreshToken": pair.RefreshToken}).
					expectProblem(t, http.StatusForbidden, "account-suspended")
				var live int
				if err := h.db.SQL.QueryRow(`SELECT COUNT(*) FROM refresh_tokens WHERE user_id = $1 AND revoked_at IS NULL`, userID).Scan(&live); err != nil {
					t.Fatal(err)
				}
				if live != 0 {
					t.Fatalf("%d refresh tokens still live after suspension", live)
				}
			})

			t.Run("BadInputIsA4xxProblem", func(t *testing.T) {
				t.Parallel()
				for _, c := range []struct {
					name, path string
					body       any
					status     int
				}{
					{"InvalidEmail", "/auth/register", map[string]string{"email": "nope", "password": password}, 400},
					{"ShortPassword", "/auth/register", map[string]string{"email": "short@example.com", "password": "1234567"}, 400},
					{"LongPassword", "/auth/register", map[string]string{"email": "long@example.com", "password": strings.Repeat("é", 257)}, 400},
					{"MissingPassword", "/auth/register", map[string]string{"email": "missing@example.com"}, 422},
					{"NotJSON", "/auth/register", "{not json", 400},
					{"UnknownField", "/auth/login", map[string]any{"email": "a@example.com", "password": "x", "admin": true}, 422},
					{"ResendInvalidEmail", "/auth/verify/resend", map[string]string{"email": "nope"}, 400},
				} {
					res := h.do(t, "POST", c.path, c.body)
					if res.status != c.status {
						t.Errorf("%s: status %d, want %d (%s)", c.name, res.status, c.status, res.body)
						continue
					}
					res.problem(t)
				}
				// Exactly 8 and 256 characters are fine.
				h.do(t, "POST", "/auth/register", map[string]string{"email": "eight@example.com", "password": "12345678"}).expectStatus(t, http.StatusCreated)
				h.do(t, "POST", "/auth/register", map[string]string{"email": "max@example.com", "password": strings.Repeat("é", 256)}).expectStatus(t, http.StatusCreated)
			})

			t.Run("JWKSVerifiesIssuedTokens", func(t *testing.T) {
				t.Parallel()
				_, pair := h.signUp(t, "jwks@example.com")
				res := h.do(t, "GET", "/.well-known/jwks.json", nil)
				res.expectStatus(t, http.StatusOK)
				var set struct {
					Keys []struct{ Kty, Crv, X, Kid, Alg, Use string }
				}
				res.decode(t, &set)
				if len(set.Keys) != 1 || set.Keys[0].Kty != "OKP" || set.Keys[0].Crv != "Ed25519" || set.Keys[0].Alg != "EdDSA" {
					t.Fatalf("jwks = %s", res.body)
				}
				pub, err := base64.RawURLEncoding.DecodeString(set.Keys[0].X)
				if err != nil {
					t.Fatal(err)
				}
				tok, err := jwt.Parse(pair.AccessToken, func(tok *jwt.Token) (any, error) {
					if tok.Header["kid"] != set.Keys[0].Kid {
						t.Errorf("token kid %v, jwks kid %s", tok.Header["kid"], set.Keys[0].Kid)
					}
					return ed25519.PublicKey(pub), nil
				}, jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer(issuer), jwt.WithAudience("wagate"))
				if err != nil || !tok.Valid {
					t.Fatalf("the JWKS key does not verify an issued token: %v", err)
				}
			})

			t.Run("OpenAPIDocumentsTheRoutes", func(t *testing.T) {
				t.Parallel()
				res := h.do(t, "GET", "/openapi.json", nil)
				res.expectStatus(t, http.StatusOK)
				for _, path := range []string{"/auth/register", "/auth/verify", "/auth/verify/resend", "/auth/login", "/auth/refresh",
					"/auth/logout", "/auth/password/forgot", "/auth/password/reset", "/me", "/api-keys", "/api-keys/{id}", "/.well-known/jwks.json"} {
					if !strings.Contains(string(res.body), `"`+path+`"`) {
						t.Errorf("OpenAPI document lacks %s", path)
					}
				}
			})
		})
	}
}
