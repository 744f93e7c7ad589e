package messaging

import (
	"errors"
	"testing"
	"time"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/wa"
)

func TestSend(t *testing.T) {
	t.Parallel()

	t.Run("StoresPendingMessageAndCommandTogether", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, f *fixture) {
			m := f.sendText(sessionA, "+1 555 000 1111", "hello", "")
			if m.Status != StatusPending || m.Direction != DirectionOut || m.ChatJID != alice || m.MessageID != "" {
				t.Fatalf("accepted message = %+v", m)
			}
			if got := f.message(sessionA, m.ID); got.Status != StatusPending || got.Content.Text != "hello" {
				t.Fatalf("stored message = %+v", got)
			}
			cmds := f.next(eventlog.SessionCommands)
			if len(cmds) != 1 || cmds[0].Type != CommandSendMessage || cmds[0].TenantID != tenantA || cmds[0].SessionID != sessionA {
				t.Fatalf("commands = %+v", cmds)
			}
			var cmd SendMessageCommand
			if err := cmds[0].Decode(&cmd); err != nil || cmd.ID != m.ID || cmd.ChatJID != alice {
				t.Fatalf("command = %+v, %v", cmd, err)
			}
		})
	})

	t.Run("NothingIsStoredWhenTheCommandCannotBeWritten", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, f *fixture) {
			if _, err := f.db.SQL.ExecContext(f.ctx, `DROP TABLE outbox`); err != nil {
				t.Fatal(err)
			}
			_, _, err := f.svc.Send(f.ctx, SendInput{TenantID: tenantA, SessionID: sessionA, IdempotencyKey: "k1",
				Request: SendRequest{To: alice, Text: "lost?"}})
			if err == nil {
				t.Fatal("send succeeded without an outbox")
			}
			var n int
			if err := f.db.SQL.QueryRowContext(f.ctx, `SELECT
				(SELECT COUNT(*) FROM session_messages) + (SELECT COUNT(*) FROM idempotency_keys)`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Fatalf("%d rows left behind by a failed send", n)
			}
		})
	})

	t.Run("SameIdempotencyKeyAndBodyReturnsSameMessageAndSendsOnce", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, f *fixture) {
			first := f.sendText(sessionA, alice, "once", "key-1")
			f.runCommands()
			again, replayed, err := f.svc.Send(f.ctx, SendInput{TenantID: tenantA, SessionID: sessionA,
				IdempotencyKey: "key-1", Request: SendRequest{To: alice, Text: "once"}})
			if err != nil || !replayed || again.ID != first.ID {
				t.Fatalf("replay = %+v, %v, %v; want message %s", again, replayed, err, first.ID)
			}
			if again.Status != StatusSent {
				t.Fatalf("replay shows status %s, want the current status sent", again.Status)
			}
			if cmds := f.runCommands(); len(cmds) != 0 {
				t.Fatalf("replay queued %d commands", len(cmds))
			}
			if n := f.phone.callCount(); n != 1 {
				t.Fatalf("phone was asked to send %d times", n)
			}
		})
	})

	t.Run("SameIdempotencyKeyWithOtherBodyIsRefused", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, f *fixture) {
			f.sendText(sessionA, alice, "one", "key-2")
			_, _, err := f.svc.Send(f.ctx, SendInput{TenantID: tenantA, SessionID: sessionA,
				IdempotencyKey: "key-2", Request: SendRequest{To: alice, Text: "two"}})
			if !errors.Is(err, ErrIdempotencyKeyReused) {
				t.Fatalf("err = %v, want ErrIdempotencyKeyReused", err)
			}
			// The key is per tenant: another tenant may use it freely.
			f.sessions.add(tenantB, "session-b2")
			if _, _, err := f.svc.Send(f.ctx, SendInput{TenantID: tenantB, SessionID: "session-b2",
				IdempotencyKey: "key-2", Request: SendRequest{To: alice, Text: "two"}}); err != nil {
				t.Fatalf("other tenant with the same key: %v", err)
			}
		})
	})

	t.Run("IdempotencyKeysExpireAfter24Hours", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, f *fixture) {
			first := f.sendText(sessionA, alice, "day one", "key-3")
			f.clock.Advance(24*time.Hour + time.Second)
			second := f.sendText(sessionA, alice, "day two", "key-3")
			if second.ID == first.ID {
				t.Fatal("an expired key still returned the old message")
			}
			n, err := f.store.Cleanup(f.ctx)
			if err != nil || n != 0 {
				t.Fatalf("cleanup removed %d, %v; the key was renewed, nothing to remove", n, err)
			}
			f.clock.Advance(25 * time.Hour)
			if n, err := f.store.Cleanup(f.ctx); err != nil || n != 1 {
				t.Fatalf("cleanup removed %d, %v; want the expired key", n, err)
			}
		})
	})

	t.Run("ConcurrentRequestsWithOneKeyCreateOneMessage", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, f *fixture) {
			ids := make(chan string, 8)
			errs := make(chan error, 8)
			for range 8 {
				go func() {
					m, _, err := f.svc.Send(f.ctx, SendInput{TenantID: tenantA, SessionID: sessionA,
						IdempotencyKey: "race", Request: SendRequest{To: alice, Text: "race"}})
					ids <- m.ID
					errs <- err
				}()
			}
			var first string
			for range 8 {
				id, err := <-ids, <-errs
				if err != nil {
					t.Fatalf("send: %v", err)
				}
				if first == "" {
					first = id
				}
				if id != first {
					t.Fatalf("one key gave two messages: %s and %s", first, id)
				}
			}
			if cmds := f.next(eventlog.SessionCommands); len(cmds) != 1 {
				t.Fatalf("%d commands for one key", len(cmds))
			}
		})
	})

	t.Run("UnknownSessionOrOtherTenantsSessionIsNotFound", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, f *fixture) {
			for _, sid := range []string{"nope", "session-of-b"} {
				_, _, err := f.svc.Send(f.ctx, SendInput{TenantID: tenantA, SessionID: sid, Request: SendRequest{To: alice, Text: "x"}})
				if err == nil {
					t.Fatalf("send to session %q succeeded", sid)
				}
			}
		})
	})
}

func TestWorkerSend(t *testing.T) {
	t.Parallel()

	t.Run("SentRecordsWhatsAppIdAndEmitsMessageSent", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, f *fixture) {
			m := f.sendText(sessionA, alice, "hi", "")
			f.runCommands()
			got := f.message(sessionA, m.ID)
			if got.Status != StatusSent || got.MessageID != waID(m.ID) {
				t.Fatalf("after send: %+v", got)
			}
			sent := ofType(f.runEvents(), wa.EventMessageSent)
			if len(sent) != 1 {
				t.Fatalf("%d message.sent events", len(sent))
			}
			var ev wa.MessageSent
			if err := sent[0].Decode(&ev); err != nil || ev.ID != m.ID || ev.MessageID != got.MessageID || ev.ChatJID != alice {
				t.Fatalf("message.sent = %+v, %v", ev, err)
			}
			// The outgoing message is its chat's latest (direction out).
			if c := f.chat(sessionA, alice); c.LastMessageID != got.MessageID || c.UnreadCount != 0 {
				t.Fatalf("chat = %+v", c)
			}
			// GET by WhatsApp id finds the same message.
			if byWA := f.message(sessionA, got.MessageID); byWA.ID != m.ID {
				t.Fatalf("lookup by WhatsApp id = %+v", byWA)
			}
		})
	})

	t.Run("RedeliveredCommandDoesNotSendAgain", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, f *fixture) {
			f.sendText(sessionA, alice, "once", "")
			cmds := f.runCommands()
			for range 3 {
				if err := f.worker.HandleCommand(f.ctx, cmds[0]); err != nil {
					t.Fatal(err)
				}
			}
			if n := f.phone.callCount(); n != 1 {
				t.Fatalf("phone asked %d times", n)
			}
			if events := ofType(f.next("domain-events"), wa.EventMessageSent); len(events) != 1 {
				t.Fatalf("%d message.sent events", len(events))
			}
		})
	})

	t.Run("ProviderRejectionFailsWithReason", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, f *fixture) {
			f.phone.sendErr = wa.ErrInvalidRecipient
			m := f.sendText(sessionA, alice, "to nobody", "")
			f.runCommands()
			got := f.message(sessionA, m.ID)
			if got.Status != StatusFailed || got.Error != string(ReasonInvalidRecipient) {
				t.Fatalf("after rejection: %+v", got)
			}
			failed := ofType(f.next("domain-events"), wa.EventMessageFailed)
			var ev wa.MessageFailed
			if len(failed) != 1 || failed[0].Decode(&ev) != nil || ev.Reason != string(ReasonInvalidRecipient) || ev.ID != m.ID {
				t.Fatalf("message.failed = %+v", failed)
			}
		})
	})

	t.Run("TransientProviderErrorIsRetried", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, f *fixture) {
			f.phone.sendErr = errors.New("socket hiccup")
			m := f.sendText(sessionA, alice, "retry me", "")
			f.runCommands()
			if got := f.message(sessionA, m.ID); got.Status != StatusPending {
				t.Fatalf("after a transient error: %+v", got)
			}
			f.clock.Advance(time.Minute)
			refs, err := f.worker.Scan(f.ctx)
			if err != nil || len(refs) != 1 {
				t.Fatalf("scan = %v, %v", refs, err)
			}
			if err := f.worker.Drain(f.ctx, tenantA, sessionA); err != nil {
				t.Fatal(err)
			}
			if got := f.message(sessionA, m.ID); got.Status != StatusSent {
				t.Fatalf("after retry: %+v", got)
			}
		})
	})

	t.Run("NotConnectedWaitsThenSendsAfterReconnect", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, f *fixture) {
			f.phone.setOnline(sessionA, false)
			first := f.sendText(sessionA, alice, "first", "")
			second := f.sendText(sessionA, alice, "second", "")
			f.runCommands()
			if got := f.message(sessionA, first.ID); got.Status != StatusPending {
				t.Fatalf("while disconnected: %+v", got)
			}
			// Another session's commands are not held up meanwhile.
			other := f.sendText(sessionB, bob, "other session", "")
			f.runCommands()
			if got := f.message(sessionB, other.ID); got.Status != StatusSent {
				t.Fatalf("other session's message: %+v", got)
			}

			ctx, cancel := contextWithCancel(f)
			done := make(chan error, 1)
			go func() { done <- f.worker.Run(ctx) }()
			f.phone.setOnline(sessionA, true)
			connected := eventlog.Envelope{ID: eventlog.NewID(), Type: EventSessionConnected, TenantID: tenantA, SessionID: sessionA}
			if err := f.worker.HandleConnected(f.ctx, connected); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "parked messages sent", func() bool {
				return f.message(sessionA, second.ID).Status == StatusSent
			})
			cancel()
			<-done
			if got := f.phone.sentTexts(); len(got) != 3 || got[1] != "first" || got[2] != "second" {
				t.Fatalf("phone sent %q; want other session's, then first, second in order", got)
			}
		})
	})

	t.Run("NotConnectedFailsAfterSendTimeout", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, f *fixture) {
			f.phone.setOnline(sessionA, false)
			m := f.sendText(sessionA, alice, "never", "")
			f.runCommands()
			f.clock.Advance(4 * time.Minute)
			if _, err := f.worker.Scan(f.ctx); err != nil {
				t.Fatal(err)
			}
			if got := f.message(sessionA, m.ID); got.Status != StatusPending {
				t.Fatalf("before the timeout: %+v", got)
			}
			f.clock.Advance(time.Minute + time.Millisecond)
			if _, err := f.worker.Scan(f.ctx); err != nil {
				t.Fatal(err)
			}
			got := f.message(sessionA, m.ID)
			if got.Status != StatusFailed || got.Error != string(ReasonNotConnected) {
				t.Fatalf("after the timeout: %+v", got)
			}
			failed := ofType(f.next("domain-events"), wa.EventMessageFailed)
			var ev wa.MessageFailed
			if len(failed) != 1 || failed[0].Decode(&ev) != nil || ev.Reason != "session_not_connected" {
				t.Fatalf("message.failed = %+v", failed)
			}
			// Reconnecting later sends nothing.
			f.phone.setOnline(sessionA, true)
			if err := f.worker.Drain(f.ctx, tenantA, sessionA); err != nil {
				t.Fatal(err)
			}
			if n := f.phone.callCount(); n != 0 {
				t.Fatalf("a timed-out message was sent (%d calls)", n)
			}
		})
	})

	t.Run("WorkerCrashAfterHandingOverResendsTheSameWhatsAppMessage", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, f *fixture) {
			m := f.sendText(sessionA, alice, "crash", "")
			f.next(eventlog.SessionCommands)
			// A worker claims the message and hands it to the provider,
			// then dies before recording the result.
			job, ok, err := f.store.claim(f.ctx, tenantA, m.ID, f.clock.Now().Add(f.worker.cfg.lease()))
			if err != nil || !ok {
				t.Fatalf("claim: %v %v", ok, err)
			}
			if _, err := f.phone.Send(f.ctx, tenantA, sessionA, wa.OutgoingMessage{ID: job.id, ChatJID: job.chatJID, Type: job.typ, Content: job.content}); err != nil {
				t.Fatal(err)
			}
			// While the claim is live nobody else touches it.
			if err := f.worker.Drain(f.ctx, tenantA, sessionA); err != nil {
				t.Fatal(err)
			}
			if n := f.phone.callCount(); n != 1 {
				t.Fatalf("a live claim was sent again (%d calls)", n)
			}
			f.clock.Advance(f.worker.cfg.lease() + time.Second)
			refs, err := f.worker.Scan(f.ctx)
			if err != nil || len(refs) != 1 {
				t.Fatalf("scan = %v, %v", refs, err)
			}
			if err := f.worker.Drain(f.ctx, tenantA, sessionA); err != nil {
				t.Fatal(err)
			}
			if n, distinct := f.phone.callCount(), len(f.phone.delivered); n != 2 || distinct != 1 {
				t.Fatalf("calls = %d, distinct WhatsApp messages = %d; want the same message handed again", n, distinct)
			}
			if got := f.message(sessionA, m.ID); got.Status != StatusSent || got.MessageID != waID(m.ID) {
				t.Fatalf("after recovery: %+v", got)
			}
		})
	})
}
