package cloud

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/session"
	"github.com/wagate/wagate/internal/store"
)

// Store keeps what the cloud provider stores: each session's encrypted
// credentials, the webhook items already accepted, the inbox of payloads
// waiting for a session's client and the media ids of inbound media. Every
// query is scoped by session (and tenant where a tenant can reach it).
type Store struct {
	db      *store.DB
	secrets *Secrets
}

var _ session.CloudCredentials = (*Store)(nil)

// NewStore returns a store over db. secrets is nil when WAGATE_SECRET_KEY is
// not configured: cloud sessions can then not be created (422) and stored
// credentials cannot be read.
func NewStore(db *store.DB, secrets *Secrets) *Store {
	return &Store{db: db, secrets: secrets}
}

// Check implements session.CloudCredentials: the settings are well formed
// and a key is there to encrypt them.
func (s *Store) Check(c session.CloudSettings) error {
	if s.secrets == nil {
		return ErrSecretKeyRequired
	}
	switch {
	case !digits(c.PhoneNumberID, 1, 32):
		return ErrInvalidSettings.WithMessage("cloud.phoneNumberId must be the numeric phone number ID (not the phone number)")
	case !token(c.AccessToken, 1, 4096):
		return ErrInvalidSettings.WithMessage("cloud.accessToken must be 1 to 4096 characters without spaces")
	case !token(c.AppSecret, 1, 256):
		return ErrInvalidSettings.WithMessage("cloud.appSecret must be 1 to 256 characters without spaces")
	case !token(c.VerifyToken, 8, 256):
		return ErrInvalidSettings.WithMessage("cloud.verifyToken must be 8 to 256 characters without spaces")
	}
	return nil
}

func digits(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func token(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// Save implements session.CloudCredentials: it stores the credentials in the
// transaction that creates the session.
func (s *Store) Save(ctx context.Context, tx *sql.Tx, ref session.Ref, c session.CloudSettings) error {
	if err := s.Check(c); err != nil {
		return err
	}
	token, err := s.secrets.Seal(c.AccessToken, ref.SessionID+"/access_token")
	if err != nil {
		return err
	}
	secret, err := s.secrets.Seal(c.AppSecret, ref.SessionID+"/app_secret")
	if err != nil {
		return err
	}
	now := time.Now().UnixMilli()
	if _, err := tx.ExecContext(ctx, `INSERT INTO cloud_sessions
		(session_id, tenant_id, phone_number_id, access_token, app_secret, verify_token_mac, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`,
		ref.SessionID, ref.TenantID, c.PhoneNumberID, token, secret, s.secrets.MAC(c.VerifyToken), now); err != nil {
		return fmt.Errorf("store cloud credentials of session %s: %w", ref.SessionID, err)
	}
	return nil
}

// errNoCredentials: the session has no cloud credentials (not a cloud
// session, or deleted).
var errNoCredentials = errors.New("cloud session has no credentials")

// credentials returns a session's decrypted Graph API credentials.
func (s *Store) credentials(ctx context.Context, ref session.Ref) (credentials, error) {
	var c credentials
	var sealed string
	err := s.db.SQL.QueryRowContext(ctx, `SELECT phone_number_id, access_token FROM cloud_sessions
		WHERE tenant_id = $1 AND session_id = $2`, ref.TenantID, ref.SessionID).Scan(&c.PhoneNumberID, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return credentials{}, errNoCredentials
	}
	if err != nil {
		return credentials{}, fmt.Errorf("load cloud credentials of session %s: %w", ref.SessionID, err)
	}
	if s.secrets == nil {
		return credentials{}, ErrSecretKeyRequired
	}
	c.AccessToken, err = s.secrets.Open(sealed, ref.SessionID+"/access_token")
	if err != nil {
		return credentials{}, fmt.Errorf("cloud session %s: %w", ref.SessionID, err)
	}
	return c, nil
}

// candidate is a live cloud session of a phone number id, with the app
// secret its webhook deliveries are signed with.
type candidate struct {
	ref       session.Ref
	appSecret string
}

// candidates lists the live sessions of a phone number id. Secrets that do
// not decrypt (the key changed) are left out: such a session cannot verify
// anything.
func (s *Store) candidates(ctx context.Context, phoneNumberID string) ([]candidate, error) {
	if s.secrets == nil {
		return nil, nil
	}
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT c.tenant_id, c.session_id, c.app_secret
		FROM cloud_sessions c JOIN sessions s ON s.id = c.session_id AND s.tenant_id = c.tenant_id
		WHERE c.phone_number_id = $1 AND s.deleted_at = 0 ORDER BY c.session_id`, phoneNumberID)
	if err != nil {
		return nil, fmt.Errorf("find cloud sessions of %s: %w", phoneNumberID, err)
	}
	defer rows.Close()
	var out []candidate
	for rows.Next() {
		var c candidate
		var sealed string
		if err := rows.Scan(&c.ref.TenantID, &c.ref.SessionID, &sealed); err != nil {
			return nil, fmt.Errorf("find cloud sessions of %s: %w", phoneNumberID, err)
		}
		if c.appSecret, err = s.secrets.Open(sealed, c.ref.SessionID+"/app_secret"); err != nil {
			continue
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// verifyTokenKnown reports whether a live cloud session has this verify
// token.
func (s *Store) verifyTokenKnown(ctx context.Context, verifyToken string) (bool, error) {
	if s.secrets == nil {
		return false, nil
	}
	var n int
	err := s.db.SQL.QueryRowContext(ctx, `SELECT COUNT(*) FROM cloud_sessions c
		JOIN sessions s ON s.id = c.session_id AND s.tenant_id = c.tenant_id
		WHERE c.verify_token_mac = $1 AND s.deleted_at = 0`, s.secrets.MAC(verifyToken)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look up verify token: %w", err)
	}
	return n > 0, nil
}

// delivery is one change value a verified webhook payload carries for one
// session.
type delivery struct {
	ref   session.Ref
	value changeValue
}

// accept records the items of deliveries not seen before and writes, for
// each session with new items, a cloud.webhook command carrying only those,
// all in one transaction. It returns how many items were new and how many
// were repeats.
func (s *Store) accept(ctx context.Context, deliveries []delivery) (accepted, duplicates int, err error) {
	now := time.Now().UnixMilli()
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		accepted, duplicates = 0, 0
		for _, d := range deliveries {
			fresh := d.value
			fresh.Messages, fresh.Statuses = nil, nil
			for _, raw := range d.value.Messages {
				isNew, err := markSeen(ctx, tx, d.ref.SessionID, messageKey(raw), now)
				if err != nil {
					return err
				}
				if isNew {
					fresh.Messages = append(fresh.Messages, raw)
				}
			}
			for _, raw := range d.value.Statuses {
				isNew, err := markSeen(ctx, tx, d.ref.SessionID, statusKey(raw), now)
				if err != nil {
					return err
				}
				if isNew {
					fresh.Statuses = append(fresh.Statuses, raw)
				}
			}
			n := len(fresh.Messages) + len(fresh.Statuses)
			accepted += n
			duplicates += len(d.value.Messages) + len(d.value.Statuses) - n
			if n == 0 && len(fresh.Errors) == 0 {
				continue
			}
			b, err := json.Marshal(fresh)
			if err != nil {
				return fmt.Errorf("encode webhook value: %w", err)
			}
			env, err := eventlog.NewEnvelope(ctx, d.ref.TenantID, d.ref.SessionID,
				WebhookCommand{PhoneNumberID: d.value.Metadata.PhoneNumberID, Value: b})
			if err != nil {
				return err
			}
			if err := eventlog.Append(ctx, tx, eventlog.SessionCommands, env); err != nil {
				return err
			}
		}
		return nil
	})
	return accepted, duplicates, err
}

// markSeen records a webhook item for a session; it reports whether the
// item is new. Items without a key (malformed) are never new.
func markSeen(ctx context.Context, tx *sql.Tx, sessionID, key string, now int64) (bool, error) {
	if key == "" {
		return false, nil
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO cloud_webhook_seen (session_id, item_key, created_at)
		VALUES ($1, $2, $3) ON CONFLICT (session_id, item_key) DO NOTHING`, sessionID, key, now)
	if err != nil {
		return false, fmt.Errorf("record webhook item: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record webhook item: %w", err)
	}
	return n == 1, nil
}

// enqueue puts a webhook command's payload in the session's inbox, once per
// command (a redelivered command is recognised by its id).
func (s *Store) enqueue(ctx context.Context, subscriber string, env eventlog.Envelope, payload []byte) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		first, err := eventlog.MarkProcessed(ctx, tx, subscriber, env.ID)
		if err != nil || !first {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO cloud_inbox (tenant_id, session_id, payload, created_at)
			VALUES ($1, $2, $3, $4)`, env.TenantID, env.SessionID, string(payload), time.Now().UnixMilli()); err != nil {
			return fmt.Errorf("queue webhook payload for session %s: %w", env.SessionID, err)
		}
		return nil
	})
}

// inboxItem is one queued payload.
type inboxItem struct {
	seq   int64
	value changeValue
}

// inbox returns up to limit queued payloads of a session, oldest first.
// Undecodable rows are returned with a zero value (and so dropped).
func (s *Store) inbox(ctx context.Context, ref session.Ref, limit int) ([]inboxItem, error) {
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT seq, payload FROM cloud_inbox
		WHERE tenant_id = $1 AND session_id = $2 ORDER BY seq LIMIT $3`, ref.TenantID, ref.SessionID, limit)
	if err != nil {
		return nil, fmt.Errorf("read cloud inbox of session %s: %w", ref.SessionID, err)
	}
	defer rows.Close()
	var out []inboxItem
	for rows.Next() {
		var it inboxItem
		var raw string
		if err := rows.Scan(&it.seq, &raw); err != nil {
			return nil, fmt.Errorf("read cloud inbox of session %s: %w", ref.SessionID, err)
		}
		_ = json.Unmarshal([]byte(raw), &it.value)
		out = append(out, it)
	}
	return out, rows.Err()
}

// dropInbox removes a session's queued payloads up to seq.
func (s *Store) dropInbox(ctx context.Context, ref session.Ref, seq int64) error {
	if _, err := s.db.SQL.ExecContext(ctx, `DELETE FROM cloud_inbox
		WHERE tenant_id = $1 AND session_id = $2 AND seq <= $3`, ref.TenantID, ref.SessionID, seq); err != nil {
		return fmt.Errorf("clear cloud inbox of session %s: %w", ref.SessionID, err)
	}
	return nil
}

// saveMediaIDs remembers the media ids of inbound media messages.
func (s *Store) saveMediaIDs(ctx context.Context, ref session.Ref, ids map[string]string) error {
	if len(ids) == 0 {
		return nil
	}
	now := time.Now().UnixMilli()
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		for msgID, mediaID := range ids {
			if _, err := tx.ExecContext(ctx, `INSERT INTO cloud_media (session_id, message_id, media_id, created_at)
				VALUES ($1, $2, $3, $4) ON CONFLICT (session_id, message_id) DO NOTHING`,
				ref.SessionID, msgID, mediaID, now); err != nil {
				return fmt.Errorf("remember media of message %s: %w", msgID, err)
			}
		}
		return nil
	})
}

// mediaID returns the media id of an inbound media message.
func (s *Store) mediaID(ctx context.Context, ref session.Ref, messageID string) (string, error) {
	var id string
	err := s.db.SQL.QueryRowContext(ctx, `SELECT m.media_id FROM cloud_media m
		JOIN cloud_sessions c ON c.session_id = m.session_id
		WHERE c.tenant_id = $1 AND m.session_id = $2 AND m.message_id = $3`,
		ref.TenantID, ref.SessionID, messageID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("no media id for message %s", messageID)
	}
	if err != nil {
		return "", fmt.Errorf("look up media of message %s: %w", messageID, err)
	}
	return id, nil
}

// Purge removes everything the provider stored for a deleted session.
func (s *Store) Purge(ctx context.Context, ref session.Ref) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{
			`DELETE FROM cloud_inbox WHERE tenant_id = $1 AND session_id = $2`,
			`DELETE FROM cloud_media WHERE session_id = $2 AND EXISTS (SELECT 1 FROM cloud_sessions c
				WHERE c.session_id = cloud_media.session_id AND c.tenant_id = $1)`,
			`DELETE FROM cloud_webhook_seen WHERE session_id = $2 AND EXISTS (SELECT 1 FROM cloud_sessions c
				WHERE c.session_id = cloud_webhook_seen.session_id AND c.tenant_id = $1)`,
			`DELETE FROM cloud_sessions WHERE tenant_id = $1 AND session_id = $2`,
		} {
			if _, err := tx.ExecContext(ctx, q, ref.TenantID, ref.SessionID); err != nil {
				return fmt.Errorf("purge cloud session %s: %w", ref.SessionID, err)
			}
		}
		return nil
	})
}

// SeenRetention is how long accepted webhook items are remembered: Meta
// retries a failed delivery for up to 7 days.
const SeenRetention = 14 * 24 * time.Hour

// Cleanup forgets webhook items accepted before cutoff, and payloads queued
// for sessions deleted meanwhile; it returns how many items it forgot.
func (s *Store) Cleanup(ctx context.Context, cutoff time.Time) (int64, error) {
	if _, err := s.db.SQL.ExecContext(ctx, `DELETE FROM cloud_inbox WHERE created_at < $1
		AND NOT EXISTS (SELECT 1 FROM cloud_sessions c WHERE c.session_id = cloud_inbox.session_id)`,
		time.Now().Add(-time.Hour).UnixMilli()); err != nil {
		return 0, fmt.Errorf("clean up orphaned inbox: %w", err)
	}
	res, err := s.db.SQL.ExecContext(ctx, `DELETE FROM cloud_webhook_seen WHERE created_at < $1`, cutoff.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("clean up webhook items: %w", err)
	}
	return res.RowsAffected()
}
