package messaging

import (
	"encoding/base64"
	"encoding/json"
)

// Page limits of list endpoints.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// cursor is a keyset position: the sort key of the last item of a page.
// Lists continue strictly after it, so rows inserted meanwhile neither shift
// nor repeat what the client has already seen (no offsets).
type cursor struct {
	// Kind stops a chats cursor from being replayed on a messages list.
	Kind string `json:"k"`
	// Scope binds the cursor to the session (and chat) it was made for.
	Scope string `json:"s"`
	TS    int64  `json:"t"`
	Key   string `json:"i"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c) // strings and an int: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor parses an opaque cursor; "" means the first page.
func decodeCursor(s, kind, scope string) (*cursor, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(s) > 1024 {
		return nil, ErrInvalidCursor
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil || c.Kind != kind || c.Scope != scope || c.Key == "" {
		return nil, ErrInvalidCursor
	}
	return &c, nil
}

// clampLimit applies the default and the maximum page size.
func clampLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultLimit
	case n > MaxLimit:
		return MaxLimit
	}
	return n
}
