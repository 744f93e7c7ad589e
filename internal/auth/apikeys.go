package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wagate/wagate/internal/apperr"
	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/store"
	"github.com/wagate/wagate/internal/user"
)

// API keys look like "wag_<43 base64url characters>": the fixed start makes
// a leaked key easy to spot (secret scanners), the rest is 256 random bits.
const (
	apiKeyMarker    = "wag_"
	apiKeyPrefixLen = len(apiKeyMarker) + 8
	maxAPIKeyName   = 100
)

// API key errors.
var (
	ErrAPIKeyNotFound = apperr.NotFound("api-key-not-found", "API key not found")
	ErrInvalidAPIKey  = apperr.Unauthorized("invalid-api-key", "the API key is invalid or revoked")
	ErrAPIKeyName     = apperr.Invalid("invalid-api-key-name", "name must be at most 100 characters")
	ErrInvalidCursor  = apperr.Invalid("invalid-cursor", "cursor is not one this list returned")
)

// APIKey is a stored key as its owner sees it: never the secret.
type APIKey struct {
	ID         string
	Name       string
	Prefix     string
	CreatedAt  time.Time
	LastUsedAt time.Time
}

// apiKeyStore is the SQL of API keys. Every query but the credential lookup
// is scoped by tenant: another tenant's key is "not found".
type apiKeyStore struct {
	db *store.DB
}

func (s apiKeyStore) create(ctx context.Context, tenantID, name string, now time.Time) (APIKey, string, error) {
	name = strings.TrimSpace(name)
	if utf8.RuneCountInString(name) > maxAPIKeyName {
		return APIKey{}, "", ErrAPIKeyName
	}
	random, _, err := user.NewSecret()
	if err != nil {
		return APIKey{}, "", err
	}
	secret := apiKeyMarker + random
	k := APIKey{ID: eventlog.NewID(), Name: name, Prefix: secret[:apiKeyPrefixLen], CreatedAt: now}
	if _, err := s.db.SQL.ExecContext(ctx, `INSERT INTO api_keys (id, tenant_id, name, prefix, secret_hash, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, k.ID, tenantID, k.Name, k.Prefix, user.Digest(secret), now.UnixMilli()); err != nil {
		return APIKey{}, "", fmt.Errorf("create API key: %w", err)
	}
	return k, secret, nil
}

// list returns live keys in id (creation) order after cursor, one page of
// at most limit, and the cursor of the next page ("" at the end).
func (s apiKeyStore) list(ctx context.Context, tenantID string, limit int, cursor string) ([]APIKey, string, error) {
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT id, name, prefix, created_at, last_used_at FROM api_keys
		WHERE tenant_id = $1 AND revoked_at IS NULL AND id > $2 ORDER BY id LIMIT $3`, tenantID, cursor, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list API keys: %w", err)
	}
	defer rows.Close()
	keys := make([]APIKey, 0, limit)
	for rows.Next() {
		var k APIKey
		var created int64
		var lastUsed sql.NullInt64
		if err := rows.Scan(&k.ID, &k.Name, &k.Prefix, &created, &lastUsed); err != nil {
			return nil, "", fmt.Errorf("list API keys: %w", err)
		}
		k.CreatedAt = store.FromMillis(created)
		k.LastUsedAt = store.FromMillis(lastUsed.Int64)
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list API keys: %w", err)
	}
	next := ""
	if len(keys) > limit {
		keys = keys[:limit]
		next = keys[limit-1].ID
	}
	return keys, next, nil
}

func (s apiKeyStore) revoke(ctx context.Context, tenantID, id string, now time.Time) error {
	res, err := s.db.SQL.ExecContext(ctx, `UPDATE api_keys SET revoked_at = $1
		WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL`, now.UnixMilli(), tenantID, id)
	if err != nil {
		return fmt.Errorf("revoke API key %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrAPIKeyNotFound
	}
	return nil
}

// lookup resolves a presented secret to its tenant and key id. It is the one
// query not scoped by tenant: finding the tenant is its purpose.
func (s apiKeyStore) lookup(ctx context.Context, secret string, now time.Time) (tenantID, keyID string, err error) {
	if !strings.HasPrefix(secret, apiKeyMarker) || len(secret) > 128 {
		return "", "", ErrInvalidAPIKey
	}
	err = s.db.SQL.QueryRowContext(ctx, `SELECT tenant_id, id FROM api_keys WHERE secret_hash = $1 AND revoked_at IS NULL`,
		user.Digest(secret)).Scan(&tenantID, &keyID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", ErrInvalidAPIKey
	}
	if err != nil {
		return "", "", fmt.Errorf("look up API key: %w", err)
	}
	// last_used_at is for the owner's eyes; writing it at most once a minute
	// keeps a busy key from turning every request into a write.
	if _, err := s.db.SQL.ExecContext(ctx, `UPDATE api_keys SET last_used_at = $1
		WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)`,
		now.UnixMilli(), keyID, now.Add(-time.Minute).UnixMilli()); err != nil {
		return "", "", fmt.Errorf("touch API key: %w", err)
	}
	return tenantID, keyID, nil
}
