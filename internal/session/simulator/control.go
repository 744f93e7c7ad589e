package simulator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/wagate/wagate/internal/apperr"
	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/session"
	"github.com/wagate/wagate/internal/wa"
)

// Control command names, on the session-commands stream.
const (
	CommandScan       = "simulator.scan"
	CommandInbound    = "simulator.inbound"
	CommandHistory    = "simulator.history"
	CommandDisconnect = "simulator.disconnect"
)

// Scan: the phone scans the current QR and links as Phone.
type Scan struct {
	Phone string `json:"phone"`
}

// EventType implements session.Event.
func (Scan) EventType() string { return CommandScan }

// Inbound: a contact writes to the session.
type Inbound struct {
	Message wa.Message `json:"message"`
}

// EventType implements session.Event.
func (Inbound) EventType() string { return CommandInbound }

// History: the phone sends a history sync of Chats chats with
// MessagesPerChat messages each. RequestID seeds the message ids, so a
// redelivered command produces the same messages.
type History struct {
	RequestID       string `json:"requestId"`
	Chats           int    `json:"chats"`
	MessagesPerChat int    `json:"messagesPerChat"`
}

// EventType implements session.Event.
func (History) EventType() string { return CommandHistory }

// Disconnect: the connection drops (connection_lost) or the phone unlinks
// the device (logged_out).
type Disconnect struct {
	Reason session.DisconnectReason `json:"reason"`
}

// EventType implements session.Event.
func (Disconnect) EventType() string { return CommandDisconnect }

var (
	errNoQR      = apperr.Conflict("no-qr", "the simulated session is not showing a QR code")
	errNotOnline = apperr.Conflict("session-not-connected", "the simulated session is not connected")
)

// Subscription consumes the control commands on the worker.
func (p *Provider) Subscription() eventlog.Subscription {
	return eventlog.Subscription{
		Name:    "session.simulator",
		Stream:  eventlog.SessionCommands,
		Types:   []string{CommandScan, CommandInbound, CommandHistory, CommandDisconnect, session.CommandDelete},
		Handler: p.HandleCommand,
	}
}

// HandleCommand executes one control command. A scan that arrives before
// the session shows its QR on this worker fails, so it is retried; other
// commands for a session that is not online here are dropped with a log
// line, as a real phone's actions would be lost.
func (p *Provider) HandleCommand(ctx context.Context, env eventlog.Envelope) error {
	ref := session.Ref{TenantID: env.TenantID, SessionID: env.SessionID}
	switch env.Type {
	case session.CommandDelete:
		// The session is gone: so is what its contacts queued for it.
		if _, err := p.db.SQL.ExecContext(ctx, `DELETE FROM simulator_inbox WHERE tenant_id = $1 AND session_id = $2`,
			ref.TenantID, ref.SessionID); err != nil {
			return fmt.Errorf("clear simulator inbox: %w", err)
		}
		return nil
	case CommandInbound:
		var cmd Inbound
		if err := env.Decode(&cmd); err != nil {
			return p.drop(env, err)
		}
		if err := p.enqueue(ctx, ref.TenantID, ref.SessionID, cmd.Message); err != nil {
			return err
		}
		if c, err := p.client(ref); err == nil {
			c.emit(c.flushInbox)
		}
		return nil
	case CommandScan:
		var cmd Scan
		if err := env.Decode(&cmd); err != nil {
			return p.drop(env, err)
		}
		c, err := p.client(ref)
		if err != nil {
			return err
		}
		err = c.scan(ctx, cmd.Phone)
		if errors.Is(err, errNoQR) && c.IsConnected() {
			return nil // already linked: a redelivered scan
		}
		return err
	case CommandHistory:
		var cmd History
		if err := env.Decode(&cmd); err != nil {
			return p.drop(env, err)
		}
		c, err := p.client(ref)
		if err != nil || !c.IsConnected() {
			return p.drop(env, errNotOnline)
		}
		chats := generateHistory(ref.SessionID, cmd, time.Now())
		chunks := session.ChunkHistory(chats, session.MaxHistoryChunk)
		for i, ch := range chunks {
			final := i == len(chunks)-1
			c.emit(func() { c.sink.HistorySync(ch, final) })
		}
		return nil
	case CommandDisconnect:
		var cmd Disconnect
		if err := env.Decode(&cmd); err != nil {
			return p.drop(env, err)
		}
		c, err := p.client(ref)
		if err != nil {
			return p.drop(env, err)
		}
		if err := c.drop(ctx, cmd.Reason); err != nil {
			return p.drop(env, err)
		}
		return nil
	}
	return nil
}

func (p *Provider) drop(env eventlog.Envelope, why error) error {
	p.log.Warn("simulator command dropped", "type", env.Type, "session", env.SessionID, "reason", why.Error())
	return nil
}

// generateHistory makes a deterministic history: chats with contacts
// +1555000xxxx, messages alternating between the contact and the phone,
// one minute apart, ending a minute before now.
func generateHistory(sessionID string, cmd History, now time.Time) []wa.HistoryChat {
	chats := make([]wa.HistoryChat, 0, cmd.Chats)
	for i := 1; i <= cmd.Chats; i++ {
		jid := fmt.Sprintf("1555%07d@s.whatsapp.net", i)
		chat := wa.HistoryChat{ChatJID: jid, Name: fmt.Sprintf("Contact %d", i)}
		for j := 0; j < cmd.MessagesPerChat; j++ {
			sum := sha256.Sum256(fmt.Appendf(nil, "%s|%s|%d|%d", sessionID, cmd.RequestID, i, j))
			m := wa.Message{
				MessageID: "SIMH" + hex.EncodeToString(sum[:8]),
				ChatJID:   jid,
				FromMe:    j%2 == 1,
				Type:      wa.TypeText,
				Content:   wa.Content{Text: fmt.Sprintf("history message %d of chat %d", j+1, i)},
				Timestamp: now.Add(-time.Duration(cmd.MessagesPerChat-j) * time.Minute).UTC().Truncate(time.Second),
			}
			if !m.FromMe {
				m.SenderJID = jid
				m.PushName = chat.Name
			}
			chat.Messages = append(chat.Messages, m)
		}
		chats = append(chats, chat)
	}
	return chats
}
