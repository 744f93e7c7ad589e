package session

import (
	"context"
	"fmt"

	"github.com/wagate/wagate/internal/wa"
)

// Send delivers msg through the session's running client. It returns
// ErrNotConnected when this worker does not run the session or the session
// is not linked and online right now; the caller decides whether to retry.
func (m *Manager) Send(ctx context.Context, tenantID, sessionID string, msg wa.OutgoingMessage) (wa.SendResult, error) {
	c, err := m.connectedClient(tenantID, sessionID)
	if err != nil {
		return wa.SendResult{}, err
	}
	res, err := c.Send(ctx, msg)
	if err != nil {
		return wa.SendResult{}, fmt.Errorf("send %s via session %s: %w", msg.ID, sessionID, err)
	}
	return res, nil
}

// MarkRead sends read receipts for messages of a chat; ErrNotConnected as Send.
func (m *Manager) MarkRead(ctx context.Context, tenantID, sessionID, chatJID string, messageIDs []string) error {
	c, err := m.connectedClient(tenantID, sessionID)
	if err != nil {
		return err
	}
	if err := c.MarkRead(ctx, chatJID, messageIDs); err != nil {
		return fmt.Errorf("mark read in session %s: %w", sessionID, err)
	}
	return nil
}

// DownloadMedia fetches an inbound media message's bytes; ErrNotConnected as Send.
func (m *Manager) DownloadMedia(ctx context.Context, tenantID, sessionID string, msg wa.Message) ([]byte, error) {
	c, err := m.connectedClient(tenantID, sessionID)
	if err != nil {
		return nil, err
	}
	b, err := c.DownloadMedia(ctx, msg)
	if err != nil {
		return nil, fmt.Errorf("download media %s in session %s: %w", msg.MessageID, sessionID, err)
	}
	return b, nil
}
