package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDashboardEndToEnd is a person using the dashboard of a real wagate
// (SQLite, simulator, a real SMTP server): sign up, verify with the mailed
// link, log in, create a simulator session, see its QR, scan it, see
// "connected", send a message and watch its ticks, and see inbound
// messages arrive without reloading. Then API keys, webhooks and logout.
func TestDashboardEndToEnd(t *testing.T) {
	t.Parallel()
	mailbox := startMailbox(t)
	base, _ := startWagate(t, map[string]string{"WAGATE_SMTP_URL": mailbox.URL})
	b := newTab(t, 1280, 860)
	const email, password = "ada@example.com", "correct horse battery"

	b.run(t, "open the dashboard", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
	b.screenshot(t, "login")

	b.run(t, "sign up",
		chromedp.Click(chromedp.CSS(`a[href="#/signup"]`)),
		chromedp.WaitVisible(chromedp.CSS("#signup-form")),
		chromedp.SendKeys(chromedp.CSS(`#signup-form input[name=email]`), email),
		chromedp.SendKeys(chromedp.CSS(`#signup-form input[name=password]`), password),
		chromedp.Click(chromedp.CSS(`#signup-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("#signup-done")))

	// The link from the real mail, pasted into the page.
	link := mailbox.link(t, email)
	b.run(t, "verify with the mailed link",
		chromedp.SendKeys(chromedp.CSS(`#verify-form input[name=token]`), link),
		chromedp.Click(chromedp.CSS(`#verify-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("#login-form")))

	b.run(t, "log in",
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name=email]`), email),
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name=password]`), password),
		chromedp.Click(chromedp.CSS(`#login-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("#create-session")))
	b.waitFor(t, "the user's email in the header", `document.getElementById("me-email").textContent === `+jsString(email))
	b.waitFor(t, "live events", `document.getElementById("live").dataset.state === "live"`)

	// An expired or rejected access token is refreshed with the refresh
	// token, and the rotated pair replaces the old one.
	before := eval[string](t, b, `JSON.parse(sessionStorage.getItem("wagate.tokens")).refresh`)
	eval[bool](t, b, `(() => { const t = JSON.parse(sessionStorage.getItem("wagate.tokens")); t.access = "not-a-token"; t.expiresAt = Date.now() + 600000; sessionStorage.setItem("wagate.tokens", JSON.stringify(t)); return true; })()`)
	b.run(t, "reload with a rejected access token", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#create-session")))
	b.waitFor(t, "a rotated token pair", `JSON.parse(sessionStorage.getItem("wagate.tokens")).refresh !== `+jsString(before))
	b.waitFor(t, "the session list", `document.getElementById("no-sessions") !== null`)
	eval[bool](t, b, `(() => { const t = JSON.parse(sessionStorage.getItem("wagate.tokens")); t.expiresAt = 0; sessionStorage.setItem("wagate.tokens", JSON.stringify(t)); return true; })()`)
	before = eval[string](t, b, `JSON.parse(sessionStorage.getItem("wagate.tokens")).refresh`)
	b.run(t, "reload with an expired access token", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#create-session")))
	b.waitFor(t, "another rotated pair", `JSON.parse(sessionStorage.getItem("wagate.tokens")).refresh !== `+jsString(before))
	b.waitFor(t, "live events after the refresh", `document.getElementById("live").dataset.state === "live"`)

	b.run(t, "create a simulator session",
		chromedp.SendKeys(chromedp.CSS(`#create-session input[name=name]`), "Support line"),
		chromedp.SetValue(chromedp.CSS(`#create-session select[name=provider]`), "simulator"),
		chromedp.Click(chromedp.CSS(`#create-session button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("#sim-panel")))
	sessionID := eval[string](t, b, `location.hash.split("/")[2]`)
	b.waitFor(t, "the QR code", `(document.querySelector("#qr-box svg.qr")?.dataset.qr || "").length > 10`)
	shown := eval[string](t, b, `document.querySelector("#qr-box svg.qr").dataset.qr`)
	var current struct{ QR string }
	apiCall(t, b, base, http.MethodGet, "/sessions/"+sessionID+"/qr", nil, &current)
	if shown != current.QR {
		// The QR may have rotated in between; then the page must follow.
		b.waitFor(t, "the current QR", `document.querySelector("#qr-box svg.qr").dataset.qr === `+jsString(current.QR))
	}
	b.screenshot(t, "session-qr")

	b.run(t, "ask for a pairing code",
		chromedp.SendKeys(chromedp.CSS(`#pair-form input[name=phone]`), "+15550000001"),
		chromedp.Click(chromedp.CSS(`#pair-form button[type=submit]`)))
	b.waitFor(t, "the pairing code", `/^[A-Z0-9]{4}-[A-Z0-9]{4}$/.test(document.getElementById("pair-code").textContent)`)

	b.run(t, "simulate the scan", chromedp.Click(chromedp.CSS(`#sim-scan button[type=submit]`)))
	b.waitFor(t, `"connected"`, `document.querySelector(".title-row .badge").dataset.status === "connected" &&
		document.querySelector(".title-row .badge").textContent === "connected"`)
	b.waitFor(t, "the QR panel to go", `document.getElementById("qr-panel").hidden`)

	b.run(t, "open a chat",
		chromedp.Click(chromedp.CSS("#open-chats")),
		chromedp.WaitVisible(chromedp.CSS("#new-chat")),
		chromedp.SendKeys(chromedp.CSS(`#new-chat input[name=to]`), "+1 555 000 1111"),
		chromedp.Click(chromedp.CSS(`#new-chat button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("#composer")))
	// Record every status an outgoing bubble shows, to check the ticks move
	// forward one step at a time and never back.
	eval[bool](t, b, `(() => {
		window.__ticks = [];
		window.__sameDocument = true;
		const list = document.getElementById("messages");
		new MutationObserver((records) => records.forEach((r) => {
			if (r.type === "attributes" && r.target.matches(".msg.out")) window.__ticks.push(r.target.dataset.status);
			r.addedNodes.forEach((n) => { if (n.matches && n.matches(".msg.out")) window.__ticks.push(n.dataset.status); });
		})).observe(list, {subtree: true, childList: true, attributes: true, attributeFilter: ["data-status"]});
		return true;
	})()`)
	b.run(t, "send a message",
		chromedp.SendKeys(chromedp.CSS("#compose-text"), "Hello from the dashboard"),
		chromedp.Click(chromedp.CSS("#send")))
	b.waitFor(t, "the read ticks", `document.querySelector("#messages .msg.out")?.dataset.status === "read"`)
	ticks := eval[[]string](t, b, `window.__ticks`)
	rank := map[string]int{"pending": 0, "sent": 1, "delivered": 2, "read": 3}
	for i := 1; i < len(ticks); i++ {
		if rank[ticks[i]] < rank[ticks[i-1]] {
			t.Errorf("ticks went backwards: %v", ticks)
		}
	}
	for _, want := range []string{"sent", "delivered", "read"} {
		if !slices.Contains(ticks, want) {
			t.Errorf("ticks %v never showed %q", ticks, want)
		}
	}
	if text := eval[string](t, b, `document.querySelector("#messages .msg.out .text").textContent`); text != "Hello from the dashboard" {
		t.Errorf("sent bubble says %q", text)
	}

	// An image goes as base64 from the file picker.
	img := filepath.Join(t.TempDir(), "dot.png")
	if err := os.WriteFile(img, onePixelPNG, 0o600); err != nil {
		t.Fatal(err)
	}
	b.run(t, "send an image",
		chromedp.SetUploadFiles(chromedp.CSS("#attach"), []string{img}),
		chromedp.WaitVisible(chromedp.CSS("#attachment")),
		chromedp.SendKeys(chromedp.CSS("#compose-text"), "a dot"),
		chromedp.Click(chromedp.CSS("#send")))
	b.waitFor(t, "the image bubble to be sent", `(() => {
		const m = [...document.querySelectorAll("#messages .msg.out")].find((e) => e.textContent.includes("Image: dot.png"));
		return m && ["sent", "delivered", "read"].includes(m.dataset.status) && m.textContent.includes("a dot");
	})()`)

	// Contacts write back, from outside the page: the messages appear live.
	apiCall(t, b, base, http.MethodPost, "/simulator/sessions/"+sessionID+"/inbound",
		map[string]string{"from": "+15550001111", "text": "Hi back!", "pushName": "Alice"}, nil)
	b.waitFor(t, "the inbound message", `[...document.querySelectorAll("#messages .msg.in .text")].some((e) => e.textContent === "Hi back!")`)
	apiCall(t, b, base, http.MethodPost, "/simulator/sessions/"+sessionID+"/inbound",
		map[string]string{"from": "+15550002222", "text": "Are you there?", "pushName": "Bob"}, nil)
	b.waitFor(t, "an unread badge on the other chat",
		`document.querySelector('#chat-list [data-jid="15550002222@s.whatsapp.net"] .unread')?.textContent === "1"`)
	if same := eval[bool](t, b, `window.__sameDocument === true`); !same {
		t.Error("the page reloaded")
	}
	b.screenshot(t, "chat")

	b.run(t, "a phone-sized screen", chromedp.EmulateViewport(390, 780))
	b.waitFor(t, "the chat to fit", `document.documentElement.scrollWidth <= window.innerWidth`)
	b.screenshot(t, "chat-phone")
	b.run(t, "back to a desktop screen", chromedp.EmulateViewport(1280, 860))

	// A long history: the chat loads it a page at a time as you scroll up.
	b.run(t, "sync a history of 75 messages",
		chromedp.Navigate(base+"/#/sessions/"+sessionID),
		chromedp.WaitVisible(chromedp.CSS("#sim-history")),
		chromedp.SetValue(chromedp.CSS(`#sim-history input[name=chats]`), "1"),
		chromedp.SetValue(chromedp.CSS(`#sim-history input[name=messagesPerChat]`), "75"),
		chromedp.Click(chromedp.CSS(`#sim-history button[type=submit]`)))
	const historyChat = "15550000001@s.whatsapp.net"
	waitUntil(t, "the history to be stored", func() bool {
		var page struct{ Items []any }
		apiCall(t, b, base, http.MethodGet, "/chats/"+historyChat+"/messages?limit=100&sessionId="+sessionID, nil, &page)
		return len(page.Items) == 75
	})
	b.run(t, "open the history chat", chromedp.Navigate(base+"/#/sessions/"+sessionID+"/chats/"+historyChat))
	b.waitFor(t, "the newest page", `document.querySelectorAll("#messages .msg").length === 30 &&
		document.querySelector("#messages .msg:last-child .text").textContent === "history message 75 of chat 1"`)
	b.waitFor(t, "all older pages while scrolling up", `(document.getElementById("scroller").scrollTop = 0,
		document.querySelectorAll("#messages .msg").length === 75)`)
	texts := eval[[]string](t, b, `[...document.querySelectorAll("#messages .msg .text")].map((e) => e.textContent)`)
	for i, text := range texts {
		if want := fmt.Sprintf("history message %d of chat 1", i+1); text != want {
			t.Fatalf("bubble %d says %q, want %q (history out of order or repeated)", i, text, want)
		}
	}

	// The list's badges follow the session live.
	b.run(t, "open the session list", chromedp.Navigate(base+"/#/sessions"),
		chromedp.WaitVisible(chromedp.CSS(`#sessions-list [data-session-id="`+sessionID+`"]`)))
	badge := `document.querySelector('#sessions-list [data-session-id="` + sessionID + `"] .badge').dataset.status`
	b.waitFor(t, "a connected badge", badge+` === "connected"`)
	apiCall(t, b, base, http.MethodPost, "/sessions/"+sessionID+"/stop", nil, nil)
	b.waitFor(t, "the badge to turn disconnected", badge+` === "disconnected"`)
	apiCall(t, b, base, http.MethodPost, "/sessions/"+sessionID+"/start", nil, nil)
	b.waitFor(t, "the badge to turn connected again", badge+` === "connected"`)
	b.screenshot(t, "sessions")

	b.run(t, "create an API key",
		chromedp.Navigate(base+"/#/keys"),
		chromedp.WaitVisible(chromedp.CSS("#create-key")),
		chromedp.SendKeys(chromedp.CSS(`#create-key input[name=name]`), "CRM"),
		chromedp.Click(chromedp.CSS(`#create-key button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("#new-key-secret")))
	secret := eval[string](t, b, `document.getElementById("new-key-secret").textContent`)
	b.waitFor(t, "the key in the list", `document.querySelectorAll("#keys-list [data-key-id]").length === 1`)
	req, err := http.NewRequest(http.MethodGet, base+"/sessions", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", secret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("the key shown once does not work: GET /sessions answered %d", res.StatusCode)
	}

	hook := startHookReceiver(t)
	b.run(t, "add a webhook endpoint",
		chromedp.Navigate(base+"/#/webhooks"),
		chromedp.WaitVisible(chromedp.CSS("#create-webhook")),
		chromedp.SendKeys(chromedp.CSS(`#create-webhook input[name=url]`), hook),
		chromedp.SetValue(chromedp.CSS(`#create-webhook input[name=events]`), "message.received"),
		chromedp.Click(chromedp.CSS(`#create-webhook button[type=submit]`)))
	b.waitFor(t, "the endpoint in the list", `document.querySelectorAll("#webhooks-list [data-webhook-id]").length === 1`)
	apiCall(t, b, base, http.MethodPost, "/simulator/sessions/"+sessionID+"/inbound",
		map[string]string{"from": "+15550001111", "text": "for the webhook"}, nil)
	endpointID := eval[string](t, b, `document.querySelector("#webhooks-list [data-webhook-id]").dataset.webhookId`)
	waitUntil(t, "a webhook delivery", func() bool {
		var page struct{ Items []any }
		apiCall(t, b, base, http.MethodGet, "/webhook-endpoints/"+endpointID+"/deliveries", nil, &page)
		return len(page.Items) > 0
	})
	b.run(t, "show its deliveries", chromedp.Click(chromedp.CSS(`#webhooks-list [data-webhook-id] button[data-role=deliveries]`)))
	b.waitFor(t, "the delivery row", `document.querySelectorAll("#webhooks-list .deliveries tbody tr").length >= 1`)

	b.run(t, "log out", chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login-form")))
	if tokens := eval[bool](t, b, `sessionStorage.getItem("wagate.tokens") === null`); !tokens {
		t.Error("tokens survive the logout")
	}
}

// apiCall calls the API with the page's own access token, as a second
// client of the same user (e.g. the phone's contacts, through the
// simulator). out, when not nil, receives the JSON answer.
func apiCall(t *testing.T, b *browser, base, method, path string, body, out any) {
	t.Helper()
	token := eval[string](t, b, `JSON.parse(sessionStorage.getItem("wagate.tokens")).access`)
	var buf bytes.Buffer
	if body != nil {
		if err := json.NewEncoder(&buf).Encode(body); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, base+path, &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		var p map[string]any
		_ = json.NewDecoder(res.Body).Decode(&p)
		t.Fatalf("%s %s: %d %v", method, path, res.StatusCode, p)
	}
	if out != nil {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// startHookReceiver is a webhook endpoint that accepts everything.
func startHookReceiver(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/hook"
}

// waitUntil polls cond every 100 ms for up to 20 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// onePixelPNG is a valid 1×1 PNG.
var onePixelPNG = []byte{
	0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
	0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
	0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x60, 0x60, 0x60, 0xf8,
	0x0f, 0x00, 0x01, 0x04, 0x01, 0x00, 0x5f, 0xe5, 0xc3, 0x4b, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
	0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
}

// TestAccountWithoutMailServer is the newcomer's path in embedded mode: no
// SMTP, so the page points at the server log, where the link is.
func TestAccountWithoutMailServer(t *testing.T) {
	t.Parallel()
	base, logs := startWagate(t, nil)
	b := newTab(t, 1024, 768)
	const email, password = "grace@example.com", "another long password"

	b.run(t, "sign up",
		chromedp.Navigate(base+"/#/signup"),
		chromedp.WaitVisible(chromedp.CSS("#signup-form")),
		chromedp.SendKeys(chromedp.CSS(`#signup-form input[name=email]`), email),
		chromedp.SendKeys(chromedp.CSS(`#signup-form input[name=password]`), password),
		chromedp.Click(chromedp.CSS(`#signup-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("#signup-done")))
	hint := eval[string](t, b, `document.getElementById("mail-hint").textContent`)
	if !strings.Contains(hint, "server log") {
		t.Errorf("the page does not say where the link is: %q", hint)
	}

	var link string
	waitUntil(t, "the link in the server log", func() bool {
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, "no SMTP server configured") && strings.Contains(line, email) {
				link = linkRE.FindString(line)
			}
		}
		return link != ""
	})
	// The page also takes the bare token.
	token := link[strings.Index(link, "token=")+len("token="):]
	b.run(t, "verify with the token from the log",
		chromedp.SendKeys(chromedp.CSS(`#verify-form input[name=token]`), token),
		chromedp.Click(chromedp.CSS(`#verify-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name=email]`), email),
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name=password]`), password),
		chromedp.Click(chromedp.CSS(`#login-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("#create-session")))

	// A forgotten password: the reset link is in the log too, and the
	// page's reset form takes the whole link.
	const newPassword = "a brand new password"
	b.run(t, "ask for a reset link",
		chromedp.Click(chromedp.CSS("#logout")),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.Click(chromedp.CSS(`a[href="#/forgot"]`)),
		chromedp.WaitVisible(chromedp.CSS("#forgot-form")),
		chromedp.SendKeys(chromedp.CSS(`#forgot-form input[name=email]`), email),
		chromedp.Click(chromedp.CSS(`#forgot-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("#forgot-done")))
	var resetLink string
	waitUntil(t, "the reset link in the server log", func() bool {
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, "no SMTP server configured") && strings.Contains(line, email) && strings.Contains(line, "/reset") {
				resetLink = linkRE.FindString(line)
			}
		}
		return resetLink != ""
	})
	b.run(t, "set a new password and log in with it",
		chromedp.Navigate(base+"/#/reset"),
		chromedp.WaitVisible(chromedp.CSS("#reset-form")),
		chromedp.SendKeys(chromedp.CSS(`#reset-form input[name=token]`), resetLink),
		chromedp.SendKeys(chromedp.CSS(`#reset-form input[name=password]`), newPassword),
		chromedp.Click(chromedp.CSS(`#reset-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name=email]`), email),
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name=password]`), newPassword),
		chromedp.Click(chromedp.CSS(`#login-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("#create-session")))
}
