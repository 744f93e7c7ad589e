package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"time"
)

// Headers of a delivery. Every retry of one event carries the same
// X-Wagate-Event-Id, so receivers deduplicate on it.
const (
	HeaderEventID      = "X-Wagate-Event-Id"
	HeaderEvent        = "X-Wagate-Event"
	HeaderTimestamp    = "X-Wagate-Timestamp"
	HeaderSignature    = "X-Wagate-Signature"
	HeaderHubSignature = "X-Hub-Signature-256"
)

// Signature is "sha256=" + hex HMAC-SHA256(secret, timestamp + "." + body):
// binding the timestamp lets receivers refuse replays of old deliveries.
func Signature(secret string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// HubSignature is the Meta-compatible "sha256=" + hex HMAC-SHA256(secret,
// body), for receivers written for WhatsApp Cloud API webhooks.
func HubSignature(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a delivery's X-Wagate-Signature and that its timestamp is
// within tolerance of now. It is what a Go receiver needs (docs/webhooks.md).
func Verify(secret string, h http.Header, body []byte, tolerance time.Duration, now time.Time) bool {
	ts, err := strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64)
	if err != nil {
		return false
	}
	age := now.Sub(time.Unix(ts, 0))
	if age > tolerance || age < -tolerance {
		return false
	}
	return hmac.Equal([]byte(Signature(secret, ts, body)), []byte(h.Get(HeaderSignature)))
}

func signHeaders(h http.Header, secret, eventID, eventType string, now time.Time, body []byte) {
	ts := now.Unix()
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "wagate-webhooks/1")
	h.Set(HeaderEventID, eventID)
	h.Set(HeaderEvent, eventType)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderSignature, Signature(secret, ts, body))
	h.Set(HeaderHubSignature, HubSignature(secret, body))
}
