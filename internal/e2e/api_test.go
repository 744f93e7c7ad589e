package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// client calls wagate's HTTP API as one user.
type client struct {
	t     testing.TB
	base  string
	token string
	http  *http.Client
}

func newClient(t testing.TB, base string) *client {
	return &client{t: t, base: base, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
}

// call sends a JSON request and decodes a 2xx JSON answer into out.
func (c *client) call(method, path string, body, out any, header ...string) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read answer: %v", method, path, err)
	}
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
	return res.StatusCode, raw
}

// must is call that fails the test unless the answer has status want.
func (c *client) must(method, path string, body, out any, want int, header ...string) {
	c.t.Helper()
	if status, raw := c.call(method, path, body, out, header...); status != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, status, want, raw)
	}
}

// signUp registers a user, verifies the address with the token from the
// mail the SMTP server received, logs in and returns a client holding the
// access token.
func signUp(t testing.TB, d *deployment, base, email string) *client {
	t.Helper()
	c := newClient(t, base)
	const password = "correct horse battery staple"
	var reg struct {
		UserID string `json:"userId"`
		Status string `json:"status"`
	}
	c.must(http.MethodPost, "/auth/register", map[string]string{"email": email, "password": password}, &reg, http.StatusCreated)
	if reg.UserID == "" || reg.Status != "pending_verification" {
		t.Fatalf("register answered %+v", reg)
	}
	// Not verified yet: login is refused.
	if status, _ := c.call(http.MethodPost, "/auth/login", map[string]string{"email": email, "password": password}, nil); status < 400 {
		t.Fatalf("login before verification: status %d", status)
	}
	token := d.mail.Next(t, email, waitTimeout).Token()
	if token == "" {
		t.Fatal("the verification mail carries no token")
	}
	c.must(http.MethodPost, "/auth/verify", map[string]string{"token": token}, nil, http.StatusOK)
	var login struct {
		AccessToken string `json:"accessToken"`
		TokenType   string `json:"tokenType"`
	}
	c.must(http.MethodPost, "/auth/login", map[string]string{"email": email, "password": password}, &login, http.StatusOK)
	if login.AccessToken == "" || login.TokenType != "Bearer" {
		t.Fatalf("login answered %+v", login)
	}
	c.token = login.AccessToken
	return c
}
