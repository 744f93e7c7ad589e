package mail

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	texttemplate "text/template"
)

// Kind is which mail to send; each kind has its templates.
type Kind string

// The mail kinds wagate sends.
const (
	// KindVerifyEmail carries the email-verification link (24 h).
	KindVerifyEmail Kind = "verify-email"
	// KindAccountExists answers a registration with an address that already
	// has an account, so registering never reveals who has one.
	KindAccountExists Kind = "account-exists"
	// KindResetPassword carries the password-reset link (1 h).
	KindResetPassword Kind = "reset-password"
	// KindPasswordChanged tells the owner their password was changed.
	KindPasswordChanged Kind = "password-changed"
)

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	_, ok := templates[k]
	return ok
}

// linkPaths are where a mail's link points, below WAGATE_PUBLIC_URL. The
// same paths answer POST with the token in a JSON body (the API), and GET
// with a small page that does that POST for a person who clicked the link.
var linkPaths = map[Kind]string{
	KindVerifyEmail:   "/auth/verify",
	KindResetPassword: "/auth/password/reset",
}

type mailTemplate struct {
	subject string
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

type templateData struct {
	Email     string
	Link      string
	PublicURL string
}

const htmlHead = `<!doctype html><html><body style="font:15px/1.5 system-ui,sans-serif;color:#1d2329;max-width:36rem">`

var templates = map[Kind]mailTemplate{
	KindVerifyEmail: {
		subject: "Verify your email address for wagate",
		text: texttemplate.Must(texttemplate.New("t").Parse(`Welcome to wagate.

Confirm that {{.Email}} is your address by opening this link (valid for 24 hours):

{{.Link}}

If you did not sign up, ignore this mail.
`)),
		html: htmltemplate.Must(htmltemplate.New("h").Parse(htmlHead + `<p>Welcome to wagate.</p>
<p>Confirm that <strong>{{.Email}}</strong> is your address (the link is valid for 24 hours):</p>
<p><a href="{{.Link}}">Verify my email address</a></p>
<p style="color:#5b6770">If you did not sign up, ignore this mail.</p></body></html>`)),
	},
	KindAccountExists: {
		subject: "You already have a wagate account",
		text: texttemplate.Must(texttemplate.New("t").Parse(`Someone, probably you, tried to sign up to wagate with {{.Email}}.

This address already has an account, so nothing was changed. Log in at {{.PublicURL}},
or if you forgot your password ask for a reset (POST /auth/password/forgot).

If it was not you, ignore this mail.
`)),
		html: htmltemplate.Must(htmltemplate.New("h").Parse(htmlHead + `<p>Someone, probably you, tried to sign up to wagate with <strong>{{.Email}}</strong>.</p>
<p>This address already has an account, so nothing was changed. Log in at <a href="{{.PublicURL}}">{{.PublicURL}}</a>,
or if you forgot your password ask for a reset (<code>POST /auth/password/forgot</code>).</p>
<p style="color:#5b6770">If it was not you, ignore this mail.</p></body></html>`)),
	},
	KindResetPassword: {
		subject: "Reset your wagate password",
		text: texttemplate.Must(texttemplate.New("t").Parse(`Someone asked to reset the password of the wagate account {{.Email}}.

Choose a new password with this link (valid for 1 hour, usable once):

{{.Link}}

If it was not you, ignore this mail: your password stays as it is.
`)),
		html: htmltemplate.Must(htmltemplate.New("h").Parse(htmlHead + `<p>Someone asked to reset the password of the wagate account <strong>{{.Email}}</strong>.</p>
<p><a href="{{.Link}}">Choose a new password</a> (valid for 1 hour, usable once).</p>
<p style="color:#5b6770">If it was not you, ignore this mail: your password stays as it is.</p></body></html>`)),
	},
	KindPasswordChanged: {
		subject: "Your wagate password was changed",
		text: texttemplate.Must(texttemplate.New("t").Parse(`The password of the wagate account {{.Email}} was just changed, and every session was logged out.

If you did not do this, reset your password now (POST /auth/password/forgot at {{.PublicURL}}).
`)),
		html: htmltemplate.Must(htmltemplate.New("h").Parse(htmlHead + `<p>The password of the wagate account <strong>{{.Email}}</strong> was just changed, and every session was logged out.</p>
<p>If you did not do this, reset your password now (<code>POST /auth/password/forgot</code> at <a href="{{.PublicURL}}">{{.PublicURL}}</a>).</p></body></html>`)),
	},
}

// Render builds the message of a kind for a recipient. token is the one-time
// token the link carries (ignored by kinds without a link); publicURL is
// WAGATE_PUBLIC_URL.
func Render(kind Kind, to, token, publicURL string) (Message, error) {
	t, ok := templates[kind]
	if !ok {
		return Message{}, fmt.Errorf("render mail: unknown kind %q", kind)
	}
	data := templateData{Email: to, PublicURL: publicURL}
	if path, ok := linkPaths[kind]; ok {
		if token == "" {
			return Message{}, fmt.Errorf("render mail %s: no token for the link", kind)
		}
		data.Link = publicURL + path + "?token=" + url.QueryEscape(token)
	}
	var text, html bytes.Buffer
	if err := t.text.Execute(&text, data); err != nil {
		return Message{}, fmt.Errorf("render mail %s text: %w", kind, err)
	}
	if err := t.html.Execute(&html, data); err != nil {
		return Message{}, fmt.Errorf("render mail %s html: %w", kind, err)
	}
	return Message{To: to, Subject: t.subject, Text: text.String(), HTML: html.String(), Link: data.Link}, nil
}
