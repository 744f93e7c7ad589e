package session

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wagate/wagate/internal/store"
)

// DeviceStore maps sessions to their provider's device: whatsmeow keeps the
// device JID whose keys live in its whatsmeow_* tables; the simulator keeps
// the linked phone. A session without a row has never been linked (or was
// logged out) and needs a QR.
type DeviceStore struct {
	db *store.DB
}

// NewDeviceStore returns a device store over db.
func NewDeviceStore(db *store.DB) *DeviceStore { return &DeviceStore{db: db} }

// Get returns the session's device JID, ok=false when it has none.
func (d *DeviceStore) Get(ctx context.Context, ref Ref) (jid string, ok bool, err error) {
	err = d.db.SQL.QueryRowContext(ctx, `SELECT jid FROM session_devices
		WHERE tenant_id = $1 AND session_id = $2`, ref.TenantID, ref.SessionID).Scan(&jid)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("get device of session %s: %w", ref.SessionID, err)
	}
	return jid, true, nil
}

// Put records the session's device.
func (d *DeviceStore) Put(ctx context.Context, ref Ref, provider, jid string) error {
	_, err := d.db.SQL.ExecContext(ctx, `INSERT INTO session_devices (session_id, tenant_id, provider, jid, updated_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (session_id) DO UPDATE SET provider = excluded.provider, jid = excluded.jid, updated_at = excluded.updated_at
		WHERE session_devices.tenant_id = excluded.tenant_id`,
		ref.SessionID, ref.TenantID, provider, jid, time.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("put device of session %s: %w", ref.SessionID, err)
	}
	return nil
}

// Delete forgets the session's device.
func (d *DeviceStore) Delete(ctx context.Context, ref Ref) error {
	if _, err := d.db.SQL.ExecContext(ctx, `DELETE FROM session_devices
		WHERE tenant_id = $1 AND session_id = $2`, ref.TenantID, ref.SessionID); err != nil {
		return fmt.Errorf("delete device of session %s: %w", ref.SessionID, err)
	}
	return nil
}
