package simulator_test

import (
	"net/http"
	"testing"

	"github.com/wagate/wagate/internal/session"
	"github.com/wagate/wagate/internal/testenv"
)

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, d, slowQR, true)
			e.startWorker()
			id, _ := e.linked("owner", "+15550006666")

			var list struct {
				Items []session.SessionView `json:"items"`
			}
			e.mustCall("intruder", http.MethodGet, "/sessions", nil, &list, http.StatusOK)
			if len(list.Items) != 0 {
				t.Fatalf("another tenant lists %d sessions", len(list.Items))
			}
			for _, c := range []struct {
				method, path string
				body         any
			}{
				{http.MethodGet, "/sessions/" + id, nil},
				{http.MethodGet, "/sessions/" + id + "/qr", nil},
				{http.MethodPost, "/sessions/" + id + "/pair-code", map[string]string{"phone": "+15550001111"}},
				{http.MethodPost, "/sessions/" + id + "/start", nil},
				{http.MethodPost, "/sessions/" + id + "/stop", nil},
				{http.MethodPost, "/sessions/" + id + "/logout", nil},
				{http.MethodDelete, "/sessions/" + id, nil},
				{http.MethodPost, "/simulator/sessions/" + id + "/scan", map[string]string{"phone": "+15550001111"}},
				{http.MethodPost, "/simulator/sessions/" + id + "/inbound", map[string]string{"from": "+15550001111", "text": "x"}},
				{http.MethodPost, "/simulator/sessions/" + id + "/history", map[string]int{"chats": 1, "messagesPerChat": 1}},
				{http.MethodPost, "/simulator/sessions/" + id + "/disconnect", map[string]string{"reason": "logged_out"}},
			} {
				status, hdr, raw := e.call("intruder", c.method, c.path, c.body, nil)
				if status != http.StatusNotFound || hdr.Get("Content-Type") != "application/problem+json" {
					t.Errorf("%s %s as another tenant: %d %s", c.method, c.path, status, raw)
				}
			}
			// Nothing the intruder did reached the owner's session.
			if v := e.getSession("owner", id); v.Status != session.StatusConnected {
				t.Fatalf("owner's session changed: %+v", v)
			}
		})
	}
}

func TestAPIValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", slowQR, true)
	for _, c := range []struct {
		name, tenant, method, path string
		body                       any
		want                       int
	}{
		{"Unauthenticated", "", http.MethodGet, "/sessions", nil, http.StatusUnauthorized},
		{"UnknownProvider", "t", http.MethodPost, "/sessions", map[string]string{"provider": "telegram"}, http.StatusUnprocessableEntity},
		{"NameTooLong", "t", http.MethodPost, "/sessions", map[string]string{"name": string(make([]byte, 101))}, http.StatusUnprocessableEntity},
		{"UnknownSession", "t", http.MethodGet, "/sessions/nope", nil, http.StatusNotFound},
		{"BadCursor", "t", http.MethodGet, "/sessions?cursor=%25%25", nil, http.StatusBadRequest},
		{"LimitTooLarge", "t", http.MethodGet, "/sessions?limit=1000", nil, http.StatusUnprocessableEntity},
		{"BadDisconnectReason", "t", http.MethodPost, "/simulator/sessions/x/disconnect", map[string]string{"reason": "banned"}, http.StatusUnprocessableEntity},
		{"HistoryTooLarge", "t", http.MethodPost, "/simulator/sessions/x/history", map[string]int{"chats": 1000, "messagesPerChat": 1}, http.StatusUnprocessableEntity},
	} {
		status, hdr, raw := e.call(c.tenant, c.method, c.path, c.body, nil)
		if status != c.want || hdr.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s (%s), want %d problem", c.name, status, raw, hdr.Get("Content-Type"), c.want)
		}
	}
	// No body at all creates a whatsmeow session (the default provider).
	var out struct {
		SessionID string `json:"sessionId"`
	}
	e.mustCall("t", http.MethodPost, "/sessions", nil, &out, http.StatusCreated)
	if v := e.getSession("t", out.SessionID); v.Provider != session.ProviderWhatsmeow || v.Status != session.StatusPendingQR {
		t.Fatalf("default session = %+v", v)
	}
	// The QR does not exist until a worker shows one.
	e.mustCall("t", http.MethodGet, "/sessions/"+out.SessionID+"/qr", nil, nil, http.StatusConflict)
	// Simulator controls refuse a whatsmeow session.
	e.mustCall("t", http.MethodPost, "/simulator/sessions/"+out.SessionID+"/inbound", map[string]string{"from": "+15550001111", "text": "x"}, nil, http.StatusConflict)
}

func TestSimulatorDisabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", slowQR, false)
	status, _, raw := e.call("t", http.MethodPost, "/sessions", map[string]string{"provider": "simulator"}, nil)
	if status != http.StatusUnprocessableEntity {
		t.Fatalf("simulator provider while disabled: %d %s", status, raw)
	}
	var out struct {
		SessionID string `json:"sessionId"`
	}
	e.mustCall("t", http.MethodPost, "/sessions", map[string]string{}, &out, http.StatusCreated)
	for _, p := range []string{"scan", "inbound", "history", "disconnect"} {
		if status, _, _ := e.call("t", http.MethodPost, "/simulator/sessions/"+out.SessionID+"/"+p, map[string]string{}, nil); status != http.StatusNotFound {
			t.Errorf("/simulator/.../%s while disabled: %d, want 404", p, status)
		}
	}
}
