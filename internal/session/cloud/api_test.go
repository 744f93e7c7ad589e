package cloud

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/session"
	"github.com/wagate/wagate/internal/testenv"
)

func TestCreateCloudSession(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, d, testSecretKey)
			t.Run("CredentialsAreEncryptedAndNeverReturned", func(t *testing.T) {
				id := e.createCloudSession("tenant-a", cloudSettings())
				raw := string(e.mustCall("tenant-a", http.MethodGet, "/sessions/"+id, nil, nil, http.StatusOK))
				raw += string(e.mustCall("tenant-a", http.MethodGet, "/sessions", nil, nil, http.StatusOK))
				for _, secret := range []string{testToken, testAppSecret, testVerifyToken} {
					if strings.Contains(raw, secret) {
						t.Fatalf("the API returned a secret: %s", raw)
					}
				}
				var token, secret, mac string
				if err := e.db.SQL.QueryRow(`SELECT access_token, app_secret, verify_token_mac FROM cloud_sessions WHERE session_id = $1`, id).
					Scan(&token, &secret, &mac); err != nil {
					t.Fatal(err)
				}
				if strings.Contains(token+secret+mac, testToken) || strings.Contains(token+secret+mac, testAppSecret) ||
					strings.Contains(mac, testVerifyToken) {
					t.Fatal("a credential is stored in clear")
				}
				creds, err := e.cloud.credentials(context.Background(), session.Ref{TenantID: "tenant-a", SessionID: id})
				if err != nil || creds.AccessToken != testToken || creds.PhoneNumberID != testPhoneNumberID {
					t.Fatalf("credentials %+v, %v", creds, err)
				}
				if _, err := e.cloud.credentials(context.Background(), session.Ref{TenantID: "tenant-b", SessionID: id}); err == nil {
					t.Fatal("another tenant read the credentials")
				}
				if n := e.count(eventlog.SessionCommands, id, session.CommandStart, nil); n != 1 {
					t.Fatalf("%d start commands", n)
				}
			})
			t.Run("BadSettingsAreRefused", func(t *testing.T) {
				for name, tc := range map[string]struct {
					body   map[string]any
					status int
					code   string
				}{
					"Missing":        {map[string]any{"provider": "cloud"}, 400, "cloud-settings-required"},
					"WrongProvider":  {map[string]any{"provider": "whatsmeow", "cloud": cloudSettings()}, 400, "cloud-settings-unexpected"},
					"PhoneNotAnID":   {map[string]any{"provider": "cloud", "cloud": map[string]string{"phoneNumberId": "+1555", "accessToken": "t", "appSecret": "s", "verifyToken": "12345678"}}, 422, "validation-failed"},
					"ShortVerify":    {map[string]any{"provider": "cloud", "cloud": map[string]string{"phoneNumberId": "1", "accessToken": "t", "appSecret": "s", "verifyToken": "short"}}, 422, "validation-failed"},
					"TokenWithSpace": {map[string]any{"provider": "cloud", "cloud": map[string]string{"phoneNumberId": "1", "accessToken": "a b", "appSecret": "s", "verifyToken": "12345678"}}, 400, "invalid-cloud-settings"},
				} {
					status, raw := e.call("tenant-a", http.MethodPost, "/sessions", tc.body, nil)
					if status != tc.status || !strings.Contains(string(raw), tc.code) {
						t.Errorf("%s: %d %s, want %d %s", name, status, raw, tc.status, tc.code)
					}
				}
			})
		})
	}
	t.Run("WithoutSecretKeyIs422", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, testenv.Dialects[0], "")
		status, raw := e.call("tenant-a", http.MethodPost, "/sessions", map[string]any{"provider": "cloud", "cloud": cloudSettings()}, nil)
		if status != http.StatusUnprocessableEntity || !strings.Contains(string(raw), "secret-key-required") ||
			!strings.Contains(string(raw), "WAGATE_SECRET_KEY") {
			t.Fatalf("%d %s", status, raw)
		}
		var n int
		if err := e.db.SQL.QueryRow(`SELECT COUNT(*) FROM sessions`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("a session was created without its credentials (%d, %v)", n, err)
		}
	})
}

func TestWebhookVerificationHandshake(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, d, testSecretKey)
			id := e.createCloudSession("tenant-a", cloudSettings())
			get := func(q url.Values) (int, string, string) {
				res, err := http.Get(e.api.URL + "/webhooks/messages?" + q.Encode())
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				b, _ := io.ReadAll(res.Body)
				return res.StatusCode, res.Header.Get("Content-Type"), string(b)
			}
			q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {testVerifyToken}, "hub.challenge": {"1158201444"}}
			t.Run("MatchingTokenEchoesTheChallenge", func(t *testing.T) {
				status, ct, body := get(q)
				if status != 200 || !strings.HasPrefix(ct, "text/plain") || body != "1158201444" {
					t.Fatalf("%d %s %q", status, ct, body)
				}
			})
			t.Run("UnknownTokenIs403", func(t *testing.T) {
				bad := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {"not-the-token"}, "hub.challenge": {"1"}}
				status, ct, body := get(bad)
				if status != 403 || ct != "application/problem+json" || strings.Contains(body, "1158201444") {
					t.Fatalf("%d %s %s", status, ct, body)
				}
			})
			t.Run("NotASubscribeIs400", func(t *testing.T) {
				for _, v := range []url.Values{
					{"hub.mode": {"unsubscribe"}, "hub.verify_token": {testVerifyToken}, "hub.challenge": {"1"}},
					{"hub.mode": {"subscribe"}, "hub.verify_token": {testVerifyToken}},
				} {
					if status, _, body := get(v); status != 400 {
						t.Fatalf("%v: %d %s", v, status, body)
					}
				}
			})
			t.Run("DeletedSessionNoLongerVerifies", func(t *testing.T) {
				e.mustCall("tenant-a", http.MethodDelete, "/sessions/"+id, nil, nil, http.StatusNoContent)
				if status, _, _ := get(q); status != 403 {
					t.Fatalf("%d", status)
				}
			})
		})
	}
}

func TestWebhookDelivery(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, d, testSecretKey)
			id := e.createCloudSession("tenant-a", cloudSettings())
			commands := func() []event {
				var out []event
				for _, ev := range e.events(eventlog.SessionCommands, id) {
					if ev.Type == CommandWebhook {
						out = append(out, ev)
					}
				}
				return out
			}
			t.Run("MissingOrForgedSignatureIs401", func(t *testing.T) {
				for name, secret := range map[string]string{"Missing": "", "Forged": "not the app secret"} {
					status, _, raw := e.post(payloadText, secret)
					if status != http.StatusUnauthorized || !strings.Contains(string(raw), "invalid-signature") {
						t.Fatalf("%s: %d %s", name, status, raw)
					}
				}
				req, _ := http.NewRequest(http.MethodPost, e.api.URL+"/webhooks/messages", strings.NewReader(payloadText))
				req.Header.Set(SignatureHeader, Sign(testAppSecret, []byte(payloadText+" ")))
				if status, _ := e.do(req, nil); status != http.StatusUnauthorized {
					t.Fatalf("signature of another body: %d", status)
				}
				if n := len(commands()); n != 0 {
					t.Fatalf("%d commands after forged deliveries", n)
				}
			})
			t.Run("SignedPayloadIsStoredBeforeThe200", func(t *testing.T) {
				status, res, raw := e.post(payloadText, testAppSecret)
				if status != 200 || res.Accepted != 1 || res.Duplicates != 0 {
					t.Fatalf("%d %s", status, raw)
				}
				cmds := commands()
				if len(cmds) != 1 || cmds[0].Data["phoneNumberId"] != testPhoneNumberID {
					t.Fatalf("commands %+v", cmds)
				}
				var v changeValue
				b, _ := json.Marshal(cmds[0].Data["value"])
				if err := json.Unmarshal(b, &v); err != nil || len(v.Messages) != 1 || v.Contacts[0].Profile.Name != "Sheena Nelson" {
					t.Fatalf("stored value %s", b)
				}
			})
			t.Run("RedeliveryChangesNothing", func(t *testing.T) {
				status, res, _ := e.post(payloadText, testAppSecret)
				if status != 200 || res.Accepted != 0 || res.Duplicates != 1 || len(commands()) != 1 {
					t.Fatalf("%d %+v, %d commands", status, res, len(commands()))
				}
			})
			t.Run("StatusesAreDedupedByIDAndStatus", func(t *testing.T) {
				for _, st := range []string{"delivered", "read", "read"} {
					e.post(statusPayload("wamid.X", st, ""), testAppSecret)
				}
				if n := len(commands()); n != 3 {
					t.Fatalf("%d commands, want 3 (text, delivered, read)", n)
				}
			})
			t.Run("UnrelatedChangesAreTakenAndIgnored", func(t *testing.T) {
				p := `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"account_update","value":{"event":"VERIFIED_ACCOUNT"}}]}]}`
				status, res, _ := e.post(p, "whatever")
				if status != 200 || res.Accepted != 0 {
					t.Fatalf("%d %+v", status, res)
				}
			})
			t.Run("NotAWebhookPayloadIs400", func(t *testing.T) {
				for _, p := range []string{`not json`, `{"object":"page","entry":[]}`} {
					if status, _, raw := e.post(p, testAppSecret); status != 400 {
						t.Fatalf("%s: %d %s", p, status, raw)
					}
				}
			})
			t.Run("UnknownNumberIs401", func(t *testing.T) {
				p := strings.ReplaceAll(payloadText, testPhoneNumberID, "999999")
				if status, _, _ := e.post(p, testAppSecret); status != 401 {
					t.Fatalf("%d", status)
				}
			})
		})
	}
}

// TestWebhookCannotReachAnotherTenantsNumber: a tenant who knows only their
// own app secret signs a payload naming another tenant's number; nothing
// reaches that number's session.
func TestWebhookCannotReachAnotherTenantsNumber(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testenv.Dialects[0], testSecretKey)
	victim := e.createCloudSession("victim", cloudSettings())
	mine := cloudSettings()
	mine.PhoneNumberID, mine.AppSecret, mine.VerifyToken = "555000", "attacker-app-secret", "attacker-verify"
	attacker := e.createCloudSession("attacker", mine)

	// One body: a change for the attacker's number and one for the victim's.
	var p map[string]any
	_ = json.Unmarshal([]byte(payloadText), &p)
	entry := p["entry"].([]any)[0].(map[string]any)
	victimChange := entry["changes"].([]any)[0]
	b, _ := json.Marshal(victimChange)
	own := strings.ReplaceAll(string(b), testPhoneNumberID, "555000")
	var ownChange any
	_ = json.Unmarshal([]byte(own), &ownChange)
	entry["changes"] = []any{ownChange, victimChange}
	body, _ := json.Marshal(p)

	status, res, raw := e.post(string(body), "attacker-app-secret")
	if status != 200 || res.Accepted != 1 {
		t.Fatalf("%d %s", status, raw)
	}
	if n := e.count(eventlog.SessionCommands, victim, CommandWebhook, nil); n != 0 {
		t.Fatalf("the victim's session got %d webhook commands", n)
	}
	if n := e.count(eventlog.SessionCommands, attacker, CommandWebhook, nil); n != 1 {
		t.Fatalf("the attacker's own session got %d webhook commands", n)
	}
}
