package messaging

import (
	"testing"
	"time"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/wa"
)

// reasonedError is a provider error that knows its message.failed reason,
// as the cloud provider's Graph errors do.
type reasonedError struct {
	reason    string
	retryable bool
}

func (e reasonedError) Error() string      { return "graph api: " + e.reason }
func (e reasonedError) FailReason() string { return e.reason }
func (e reasonedError) Retryable() bool    { return e.retryable }

func TestProviderFailureReasons(t *testing.T) {
	t.Parallel()

	t.Run("PermanentFailureUsesTheProvidersReason", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, f *fixture) {
			m := f.sendText(sessionA, alice, "outside the window", "")
			f.phone.sendErr = reasonedError{reason: "reengagement_window"}
			f.runCommands()
			got := f.message(sessionA, m.ID)
			if got.Status != StatusFailed || got.Error != "reengagement_window" {
				t.Fatalf("message = %+v", got)
			}
			failed := ofType(f.next(eventlog.DomainEvents), wa.EventMessageFailed)
			var ev wa.MessageFailed
			if len(failed) != 1 || failed[0].Decode(&ev) != nil || ev.Reason != "reengagement_window" || ev.ID != m.ID {
				t.Fatalf("message.failed = %+v", failed)
			}
			if n := f.phone.callCount(); n != 1 {
				t.Fatalf("a permanent failure was retried: %d calls", n)
			}
		})
	})

	t.Run("RetryableFailureIsRetriedThenFailsWithItsReason", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, f *fixture) {
			m := f.sendText(sessionA, alice, "busy", "")
			f.phone.sendErr = reasonedError{reason: "rate_limited", retryable: true}
			f.runCommands()
			if got := f.message(sessionA, m.ID); got.Status != StatusPending {
				t.Fatalf("a rate-limited send must wait for another try: %+v", got)
			}
			f.clock.Advance(10 * time.Second)
			if err := f.worker.Drain(f.ctx, tenantA, sessionA); err != nil {
				t.Fatal(err)
			}
			if got := f.message(sessionA, m.ID); got.Status != StatusSent {
				t.Fatalf("the retry after the rate limit = %+v", got)
			}

			late := f.sendText(sessionA, alice, "still busy", "")
			for range 3 {
				f.phone.sendErr = reasonedError{reason: "rate_limited", retryable: true}
				f.clock.Advance(10 * time.Second)
				if err := f.worker.Drain(f.ctx, tenantA, sessionA); err != nil {
					t.Fatal(err)
				}
			}
			f.clock.Advance(5 * time.Minute)
			if _, err := f.worker.Scan(f.ctx); err != nil {
				t.Fatal(err)
			}
			if got := f.message(sessionA, late.ID); got.Status != StatusFailed || got.Error != "rate_limited" {
				t.Fatalf("after the send timeout = %+v", got)
			}
		})
	})
}

func TestFailedReceipts(t *testing.T) {
	t.Parallel()

	t.Run("FailedStatusFailsASentMessageOnce", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, f *fixture) {
			m := f.sendText(sessionA, alice, "hello", "")
			f.runCommands()
			f.runEvents()
			sent := f.message(sessionA, m.ID)
			if sent.Status != StatusSent {
				t.Fatalf("message = %+v", sent)
			}
			receipt := wa.MessageStatusUpdated{ChatJID: alice, MessageIDs: []string{sent.MessageID}, Status: wa.ReceiptFailed,
				Timestamp: f.clock.Now(), Reason: "reengagement_window", Error: "(#131047) Re-engagement message"}
			f.ingest(sessionA, receipt)
			got := f.message(sessionA, m.ID)
			if got.Status != StatusFailed || got.Error != "reengagement_window" {
				t.Fatalf("after the failed status = %+v", got)
			}
			failed := ofType(f.next(eventlog.DomainEvents), wa.EventMessageFailed)
			var ev wa.MessageFailed
			if len(failed) != 1 || failed[0].Decode(&ev) != nil || ev.ID != m.ID || ev.ChatJID != alice ||
				ev.Reason != "reengagement_window" || ev.Error != "(#131047) Re-engagement message" {
				t.Fatalf("message.failed = %+v (%+v)", failed, ev)
			}

			f.ingest(sessionA, receipt) // redelivered
			if n := len(ofType(f.next(eventlog.DomainEvents), wa.EventMessageFailed)); n != 0 {
				t.Fatalf("a redelivered failed status emitted %d more message.failed", n)
			}
		})
	})

	t.Run("ReadMessageNeverFails", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, f *fixture) {
			m := f.sendText(sessionA, alice, "seen", "")
			f.runCommands()
			f.runEvents()
			id := f.message(sessionA, m.ID).MessageID
			f.ingest(sessionA, wa.MessageStatusUpdated{ChatJID: alice, MessageIDs: []string{id}, Status: wa.ReceiptRead, Timestamp: f.clock.Now()})
			f.ingest(sessionA, wa.MessageStatusUpdated{ChatJID: alice, MessageIDs: []string{id}, Status: wa.ReceiptFailed, Reason: "provider_error"})
			if got := f.message(sessionA, m.ID); got.Status != StatusRead {
				t.Fatalf("message = %+v", got)
			}
		})
	})
}
