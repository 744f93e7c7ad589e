package messaging

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/wagate/wagate/internal/eventlog"
)

// Media states in message_media.
const (
	mediaReady     = "ready"
	mediaRequested = "requested"
	mediaFailed    = "failed"
)

// mediaRecord is one message_media row.
type mediaRecord struct {
	state     string
	mimetype  string
	data      []byte
	errText   string
	updatedAt int64
}

// putMedia stores a message's media bytes (ready), replacing any marker.
func putMedia(ctx context.Context, tx *sql.Tx, tenantID, messageID, mimetype string, data []byte, now int64) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO message_media
		(message_id, tenant_id, state, mimetype, size, data, error, updated_at)
		VALUES ($1, $2, 'ready', $3, $4, $5, '', $6)
		ON CONFLICT (message_id) DO UPDATE SET state = 'ready', mimetype = excluded.mimetype,
			size = excluded.size, data = excluded.data, error = '', updated_at = excluded.updated_at`,
		messageID, tenantID, mimetype, len(data), data, now); err != nil {
		return fmt.Errorf("store media of message %s: %w", messageID, err)
	}
	return nil
}

// storeMedia is putMedia in its own transaction.
func (s *Store) storeMedia(ctx context.Context, tenantID, messageID, mimetype string, data []byte) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		return putMedia(ctx, tx, tenantID, messageID, mimetype, data, s.nowMs())
	})
}

// media loads a message's media row; ok is false when there is none.
// withData=false leaves the bytes out (polling).
func (s *Store) media(ctx context.Context, tenantID, messageID string, withData bool) (mediaRecord, bool, error) {
	var r mediaRecord
	col := "NULL"
	if withData {
		col = "data"
	}
	err := s.db.SQL.QueryRowContext(ctx, `SELECT state, mimetype, `+col+`, error, updated_at FROM message_media
		WHERE tenant_id = $1 AND message_id = $2`, tenantID, messageID).
		Scan(&r.state, &r.mimetype, &r.data, &r.errText, &r.updatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return mediaRecord{}, false, nil
	}
	if err != nil {
		return mediaRecord{}, false, fmt.Errorf("load media of message %s: %w", messageID, err)
	}
	return r, true, nil
}

// requestMedia records that the API wants a message's media and appends the
// download command, unless a request newer than staleBefore is in flight.
func (s *Store) requestMedia(ctx context.Context, tenantID, sessionID, messageID string, staleBefore int64) error {
	env, err := eventlog.NewEnvelope(ctx, tenantID, sessionID, DownloadMediaCommand{ID: messageID})
	if err != nil {
		return err
	}
	now := s.nowMs()
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO message_media (message_id, tenant_id, state, updated_at)
			VALUES ($1, $2, 'requested', $3)
			ON CONFLICT (message_id) DO UPDATE SET state = 'requested', error = '', updated_at = excluded.updated_at
			WHERE message_media.state = 'failed' OR (message_media.state = 'requested' AND message_media.updated_at < $4)`,
			messageID, tenantID, now, staleBefore)
		if err != nil {
			return fmt.Errorf("request media of message %s: %w", messageID, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err // a fresh request is already in flight, or it is ready
		}
		return eventlog.Append(ctx, tx, eventlog.SessionCommands, env)
	})
}

// mediaFailedWith records that a download failed, so the waiting API call
// stops waiting; the next request tries again.
func (s *Store) mediaFailedWith(ctx context.Context, tenantID, messageID, reason string) error {
	if _, err := s.db.SQL.ExecContext(ctx, `UPDATE message_media SET state = 'failed', error = $3, updated_at = $4
		WHERE tenant_id = $1 AND message_id = $2 AND state = 'requested'`,
		tenantID, messageID, reason, s.nowMs()); err != nil {
		return fmt.Errorf("record media failure of message %s: %w", messageID, err)
	}
	return nil
}
