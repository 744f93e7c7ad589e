package cloud

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// SignatureHeader is the header Meta signs webhook deliveries with.
const SignatureHeader = "X-Hub-Signature-256"

// parseSignature decodes "sha256=<64 hex>"; ok is false for anything else.
func parseSignature(header string) (sum []byte, ok bool) {
	v, found := strings.CutPrefix(strings.TrimSpace(header), "sha256=")
	if !found || len(v) != 2*sha256.Size {
		return nil, false
	}
	b, err := hex.DecodeString(v)
	if err != nil {
		return nil, false
	}
	return b, true
}

// validSignature reports whether sum is the HMAC-SHA256 of body under
// appSecret, comparing in constant time.
func validSignature(appSecret string, body, sum []byte) bool {
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write(body)
	return hmac.Equal(m.Sum(nil), sum)
}

// Sign returns the X-Hub-Signature-256 value Meta would send for body: for
// tests and tools that replay deliveries.
func Sign(appSecret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}
