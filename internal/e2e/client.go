package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
)

// Client calls wagate's HTTP API as one user.
type Client struct {
	t testing.TB
	// Base is the API's URL; point it at a new process after a restart.
	Base string
	// Token is the access token sent as Authorization: Bearer.
	Token string
	// HTTP is the client's own HTTP client (CloseIdleConnections before
	// counting goroutines).
	HTTP *http.Client
}

// NewClient returns an anonymous client of the API at base.
func NewClient(t testing.TB, base string) *Client {
	return &Client{t: t, Base: base, HTTP: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
}

// Call sends a JSON request and decodes a 2xx JSON answer into out.
func (c *Client) Call(method, path string, body, out any, header ...string) (int, []byte) {
	c.t.Helper()
	status, raw, err := c.Do(method, path, body, out, header...)
	if err != nil {
		c.t.Fatal(err)
	}
	return status, raw
}

// Do is Call for use outside the test's goroutine: it returns errors.
func (c *Client) Do(method, path string, body, out any, header ...string) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.Base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			return 0, nil, fmt.Errorf("%s %s: decode %s: %w", method, path, raw, err)
		}
	}
	return res.StatusCode, raw, nil
}

// Expect is Do that also fails unless the answer has status want.
func (c *Client) Expect(want int, method, path string, body, out any) error {
	status, raw, err := c.Do(method, path, body, out)
	if err == nil && status != want {
		err = fmt.Errorf("%s %s: status %d, want %d: %s", method, path, status, want, raw)
	}
	return err
}

// Must is Call that fails the test unless the answer has status want.
func (c *Client) Must(method, path string, body, out any, want int, header ...string) {
	c.t.Helper()
	if status, raw := c.Call(method, path, body, out, header...); status != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, status, want, raw)
	}
}

// SignUp registers a user, verifies the address with the token from the
// mail the SMTP server received, logs in and returns a client holding the
// access token.
func SignUp(t testing.TB, d *Deployment, base, email string) *Client {
	t.Helper()
	c := NewClient(t, base)
	const password = "correct horse battery staple"
	var reg struct {
		UserID string `json:"userId"`
		Status string `json:"status"`
	}
	c.Must(http.MethodPost, "/auth/register", map[string]string{"email": email, "password": password}, &reg, http.StatusCreated)
	if reg.UserID == "" || reg.Status != "pending_verification" {
		t.Fatalf("register answered %+v", reg)
	}
	// Not verified yet: login is refused.
	if status, _ := c.Call(http.MethodPost, "/auth/login", map[string]string{"email": email, "password": password}, nil); status < 400 {
		t.Fatalf("login before verification: status %d", status)
	}
	token := d.Mail.Next(t, email, WaitTimeout).Token()
	if token == "" {
		t.Fatal("the verification mail carries no token")
	}
	c.Must(http.MethodPost, "/auth/verify", map[string]string{"token": token}, nil, http.StatusOK)
	var login struct {
		AccessToken string `json:"accessToken"`
		TokenType   string `json:"tokenType"`
	}
	c.Must(http.MethodPost, "/auth/login", map[string]string{"email": email, "password": password}, &login, http.StatusOK)
	if login.AccessToken == "" || login.TokenType != "Bearer" {
		t.Fatalf("login answered %+v", login)
	}
	c.Token = login.AccessToken
	return c
}
