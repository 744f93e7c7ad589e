package web_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/wagate/wagate/web"
)

// TestPageInBrowser drives the page alone (no API behind it): the forms
// render, navigation works, API errors are shown, nothing throws, and a
// phone-sized screen has no horizontal scrolling.
func TestPageInBrowser(t *testing.T) {
	t.Parallel()
	srv := newServer(t, web.Config{Simulator: true, MailLogged: true})
	b := newTab(t, 1280, 900)

	b.run(t, "open the page", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
	if hidden := eval[bool](t, b, `document.getElementById("nav").hidden`); !hidden {
		t.Error("navigation is shown while logged out")
	}

	b.run(t, "go to sign-up", chromedp.Click(chromedp.CSS(`a[href="#/signup"]`)), chromedp.WaitVisible(chromedp.CSS("#signup-form")))
	b.run(t, "submit sign-up",
		chromedp.SendKeys(chromedp.CSS(`#signup-form input[name=email]`), "a@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#signup-form input[name=password]`), "correct horse"),
		chromedp.Click(chromedp.CSS(`#signup-form button[type=submit]`)))
	// No API here: the failure must be shown in the form, not swallowed.
	b.waitFor(t, "the error", `document.querySelector("#signup-form .error").textContent.length > 0`)

	b.run(t, "a protected route sends to login", chromedp.Navigate(srv.URL+"/#/sessions"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
	b.run(t, "the verify page explains the server log",
		chromedp.Navigate(srv.URL+"/#/verify"), chromedp.WaitVisible(chromedp.CSS("#verify-form")))
	if hint := eval[string](t, b, `document.getElementById("mail-hint").textContent`); !strings.Contains(hint, "server log") {
		t.Errorf("verification hint %q does not point at the server log", hint)
	}

	b.run(t, "phone-sized screen", chromedp.EmulateViewport(390, 844), chromedp.Navigate(srv.URL+"/#/signup"), chromedp.WaitVisible(chromedp.CSS("#signup-form")))
	if overflow := eval[bool](t, b, `document.documentElement.scrollWidth > window.innerWidth`); overflow {
		t.Error("the sign-up page scrolls sideways on a phone")
	}
}

// TestQREncoderMatchesGoEncoder checks the page's own QR encoder against an
// independent one (go-qrcode) bit for bit, across versions 1 to 27. The
// encoders may pick different masks (their penalty scores differ in
// details the standard leaves open), so the page's encoder is told the mask
// go-qrcode chose. The texts have no digit or upper-case runs: go-qrcode
// would switch those to denser modes, the page always uses byte mode.
func TestQREncoderMatchesGoEncoder(t *testing.T) {
	t.Parallel()
	srv := newServer(t, web.Config{})
	b := newTab(t, 800, 600)
	b.run(t, "open the page", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#login-form")))

	corpus := strings.Repeat("wagate links a phone: scan me, please! ", 40) + "ünïcödé ✓"
	type sample struct {
		Text string `json:"text"`
		Mask int    `json:"mask"`
	}
	var samples []sample
	var want []string
	versions := map[int]bool{}
	add := func(text string) {
		q, err := qrcode.New(text, qrcode.Medium)
		if err != nil {
			t.Fatal(err)
		}
		q.DisableBorder = true
		versions[q.VersionNumber] = true
		bm := q.Bitmap()
		rows := make([]string, len(bm))
		for y, row := range bm {
			var sb strings.Builder
			for _, dark := range row {
				sb.WriteByte("01"[b2i(dark)])
			}
			rows[y] = sb.String()
		}
		samples = append(samples, sample{Text: text, Mask: maskOf(bm)})
		want = append(want, strings.Join(rows, "\n"))
	}
	for n := 1; n < 1100; n = n*3/2 + 1 {
		add(corpus[:n])
	}
	add("ünïcödé ✓ and more")
	add("2@abc,def+ghi/jkl=,mno,pqr")
	in, err := json.Marshal(samples)
	if err != nil {
		t.Fatal(err)
	}
	got := eval[[]string](t, b, `import("/assets/qr.js").then((qr) => `+string(in)+`.map((s) =>
		qr.encode(s.text, {ecl: "M", mask: s.mask}).modules.map((row) => row.map((d) => d ? "1" : "0").join("")).join("\n")))`)
	for i, s := range samples {
		if got[i] != want[i] {
			t.Errorf("text of %d bytes: the page's symbol differs from go-qrcode's", len(s.Text))
		}
	}
	if len(versions) < 10 {
		t.Errorf("covered only %d versions", len(versions))
	}

	// The rendered SVG carries the text and draws dark modules.
	svg := eval[string](t, b, `import("/assets/qr.js").then((qr) => { const s = qr.svg("hello"); return s.dataset.qr + "|" + (s.querySelector("path").getAttribute("d").length > 100); })`)
	if svg != "hello|true" {
		t.Errorf("svg() = %q", svg)
	}
}

// maskOf reads the mask pattern from a symbol's first copy of its format
// information (ISO/IEC 18004 §7.9).
func maskOf(m [][]bool) int {
	bit := func(x, y int) int { return b2i(m[y][x]) }
	var bits int
	for i := 0; i <= 5; i++ {
		bits |= bit(8, i) << i
	}
	bits |= bit(8, 7)<<6 | bit(8, 8)<<7 | bit(7, 8)<<8
	for i := 9; i < 15; i++ {
		bits |= bit(14-i, 8) << i
	}
	return (bits ^ 0x5412) >> 10 & 7
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
