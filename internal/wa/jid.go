// Package wa is the WhatsApp shared kernel of the session and messaging
// contexts: addresses (JIDs), message shapes as providers see them, and the
// payloads of the message events. It imports no WhatsApp library; providers
// translate their own types into these.
package wa

import (
	"strings"

	"github.com/wagate/wagate/internal/apperr"
)

// JID servers wagate understands.
const (
	UserServer  = "s.whatsapp.net"
	GroupServer = "g.us"
	LIDServer   = "lid"
)

// ErrInvalidRecipient is an address that is neither an E.164 number nor a JID.
var ErrInvalidRecipient = apperr.Invalid("invalid-recipient",
	"recipient must be an E.164 phone number (+15550001111) or a WhatsApp JID")

// NormalizeJID turns an E.164 number ("+15550001111", spaces and dashes
// allowed) or a JID into a canonical JID: "15550001111@s.whatsapp.net".
// Device parts ("…:12@s.whatsapp.net") are dropped: a chat is per user.
func NormalizeJID(to string) (string, error) {
	to = strings.TrimSpace(to)
	if to == "" {
		return "", ErrInvalidRecipient
	}
	if user, server, ok := strings.Cut(to, "@"); ok {
		server = strings.ToLower(server)
		if i := strings.IndexByte(user, ':'); i >= 0 && server != GroupServer {
			user = user[:i]
		}
		switch server {
		case UserServer:
			if !allDigits(user) || len(user) < 6 || len(user) > 15 {
				return "", ErrInvalidRecipient
			}
		case LIDServer:
			if !allDigits(user) || user == "" {
				return "", ErrInvalidRecipient
			}
		case GroupServer:
			if user == "" || strings.ContainsAny(user, " @") {
				return "", ErrInvalidRecipient
			}
		default:
			return "", ErrInvalidRecipient
		}
		return user + "@" + server, nil
	}
	digits := strings.NewReplacer(" ", "", "-", "", "(", "", ")", "", ".", "").Replace(to)
	digits = strings.TrimPrefix(digits, "+")
	if !allDigits(digits) || len(digits) < 6 || len(digits) > 15 || digits[0] == '0' {
		return "", ErrInvalidRecipient
	}
	return digits + "@" + UserServer, nil
}

// PhoneOf returns "+<digits>" for a user JID, "" for other JIDs.
func PhoneOf(jid string) string {
	user, server, ok := strings.Cut(jid, "@")
	if !ok || server != UserServer {
		return ""
	}
	if i := strings.IndexByte(user, ':'); i >= 0 {
		user = user[:i]
	}
	return "+" + user
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
