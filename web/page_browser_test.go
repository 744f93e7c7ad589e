package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/wagate/wagate/web"
)

// TestPageInBrowser drives the page alone (no API behind it): the forms
// render, navigation works, API errors are shown, nothing throws, and a
// phone-sized screen has no horizontal scrolling.
func TestPageInBrowser(t *testing.T) {
	t.Parallel()
	srv := newServer(t, web.Config{Simulator: true, MailLogged: true})
	b := newBrowser(t, 1280, 900)

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
