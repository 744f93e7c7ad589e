package simulator

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/wagate/wagate/internal/wa"
)

// enqueue stores an inbound message for the session; the same message id
// twice (a redelivered command) is stored once.
func (p *Provider) enqueue(ctx context.Context, tenantID, sessionID string, m wa.Message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode inbound message: %w", err)
	}
	if _, err := p.db.SQL.ExecContext(ctx, `INSERT INTO simulator_inbox (tenant_id, session_id, message_id, message, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (session_id, message_id) DO NOTHING`,
		tenantID, sessionID, m.MessageID, string(b), time.Now().UnixMilli()); err != nil {
		return fmt.Errorf("queue inbound message: %w", err)
	}
	return nil
}

// flushInbox hands queued inbound messages to the sink, oldest first, and
// removes them. It runs on the client's event loop, so it never races with
// itself.
func (c *client) flushInbox() {
	if !c.IsConnected() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	rows, err := c.p.db.SQL.QueryContext(ctx, `SELECT seq, message FROM simulator_inbox
		WHERE tenant_id = $1 AND session_id = $2 ORDER BY seq LIMIT 500`, c.ref.TenantID, c.ref.SessionID)
	if err != nil {
		c.p.log.Error("read simulator inbox", "session", c.ref.SessionID, "error", err)
		return
	}
	var msgs []wa.Message
	var last int64
	for rows.Next() {
		var raw string
		if err := rows.Scan(&last, &raw); err != nil {
			rows.Close()
			c.p.log.Error("read simulator inbox", "session", c.ref.SessionID, "error", err)
			return
		}
		var m wa.Message
		if err := json.Unmarshal([]byte(raw), &m); err == nil {
			msgs = append(msgs, m)
		}
	}
	rows.Close()
	if len(msgs) == 0 {
		return
	}
	c.sink.Messages(msgs, true)
	if _, err := c.p.db.SQL.ExecContext(ctx, `DELETE FROM simulator_inbox
		WHERE tenant_id = $1 AND session_id = $2 AND seq <= $3`, c.ref.TenantID, c.ref.SessionID, last); err != nil {
		c.p.log.Error("clear simulator inbox", "session", c.ref.SessionID, "error", err)
	}
	if len(msgs) == 500 {
		c.emit(c.flushInbox) // more queued
	}
}
