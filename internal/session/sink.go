package session

import (
	"database/sql"
	"sync/atomic"
	"time"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/wa"
)

// sink receives one client's events and turns them into domain events
// through the outbox. Once the runner is detached it drops everything, so
// a closed client can never overwrite a newer state.
type sink struct {
	m     *Manager
	r     *runner
	dead  atomic.Bool
	chunk atomic.Int64
}

var _ EventSink = (*sink)(nil)

// QR implements EventSink.
func (s *sink) QR(code string, expiresAt time.Time) {
	if s.dead.Load() {
		return
	}
	s.m.setStatus(s.r.ref, func(sess *Session, now time.Time) { sess.ShowQR(code, expiresAt, now) })
}

// Connected implements EventSink.
func (s *sink) Connected(phone string) {
	if s.dead.Load() {
		return
	}
	s.r.connected()
	s.m.setStatus(s.r.ref, func(sess *Session, now time.Time) { sess.MarkConnected(phone, now) })
	s.m.log.Info("session connected", "session", s.r.ref.SessionID)
}

// Disconnected implements EventSink: transient trouble is retried with
// backoff (unless the client retries by itself); anything else ends the
// session on this worker until a user acts.
func (s *sink) Disconnected(reason DisconnectReason, willReconnect bool) {
	if s.dead.Load() {
		return
	}
	s.m.setStatus(s.r.ref, func(sess *Session, now time.Time) { sess.MarkDisconnected(reason, now) })
	switch {
	case willReconnect:
	case reason.Retryable():
		s.m.scheduleReconnect(s.r)
	default:
		go s.m.end(s.r, reason)
	}
}

// Messages implements EventSink.
func (s *sink) Messages(msgs []wa.Message, isNew bool) {
	if s.dead.Load() || len(msgs) == 0 {
		return
	}
	evs := []Event{wa.MessagesUpsert{Messages: msgs}}
	if isNew {
		for _, msg := range msgs {
			if !msg.FromMe {
				evs = append(evs, wa.MessageReceived{Message: msg})
			}
		}
	}
	s.publish(evs...)
}

// Receipt implements EventSink.
func (s *sink) Receipt(r wa.Receipt) {
	if s.dead.Load() || len(r.MessageIDs) == 0 {
		return
	}
	s.publish(wa.MessageStatusUpdated{ChatJID: r.ChatJID, MessageIDs: r.MessageIDs, Status: r.Type, Timestamp: r.Timestamp,
		Reason: r.Reason, Error: r.Error})
}

// HistorySync implements EventSink.
func (s *sink) HistorySync(chats []wa.HistoryChat, final bool) {
	if s.dead.Load() {
		return
	}
	n := s.chunk.Add(1)
	s.publish(wa.HistorySync{Chats: chats, Chunk: int(n), Final: final})
}

// publish appends events of this session to domain-events in one
// transaction.
func (s *sink) publish(evs ...Event) {
	ctx, cancel := s.m.bg()
	defer cancel()
	ref := s.r.ref
	err := s.m.store.DB().InTx(ctx, func(tx *sql.Tx) error {
		envs := make([]eventlog.Envelope, 0, len(evs))
		for _, e := range evs {
			env, err := eventlog.NewEnvelope(ctx, ref.TenantID, ref.SessionID, e)
			if err != nil {
				return err
			}
			envs = append(envs, env)
		}
		return eventlog.Append(ctx, tx, eventlog.DomainEvents, envs...)
	})
	if err != nil {
		s.m.log.Error("publish session events", "session", ref.SessionID, "error", err)
	}
}

// discardSink is given to clients opened only to log out a session this
// worker does not run.
type discardSink struct{}

func (discardSink) QR(string, time.Time)                {}
func (discardSink) Connected(string)                    {}
func (discardSink) Disconnected(DisconnectReason, bool) {}
func (discardSink) Messages([]wa.Message, bool)         {}
func (discardSink) Receipt(wa.Receipt)                  {}
func (discardSink) HistorySync([]wa.HistoryChat, bool)  {}
