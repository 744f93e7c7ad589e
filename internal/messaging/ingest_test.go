package messaging

import (
	"fmt"
	"math/rand"
	"reflect"
	"testing"
	"time"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/store"
	"github.com/wagate/wagate/internal/wa"
)

func TestReceipts(t *testing.T) {
	t.Parallel()

	t.Run("StatusOnlyMovesForward", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, f *fixture) {
			m := f.sendText(sessionA, alice, "track me", "")
			f.runCommands()
			f.runEvents()
			wid := f.message(sessionA, m.ID).MessageID
			steps := []struct {
				receipt wa.ReceiptType
				want    Status
			}{
				{wa.ReceiptDelivered, StatusDelivered},
				{wa.ReceiptRead, StatusRead},
				{wa.ReceiptDelivered, StatusRead}, // late delivered never downgrades
				{wa.ReceiptRead, StatusRead},
			}
			for _, s := range steps {
				f.ingest(sessionA, wa.MessageStatusUpdated{ChatJID: alice, MessageIDs: []string{wid}, Status: s.receipt})
				if got := f.message(sessionA, m.ID).Status; got != s.want {
					t.Fatalf("after %s receipt: status %s, want %s", s.receipt, got, s.want)
				}
			}
		})
	})

	t.Run("ReceiptBeforeSentIsKeptAndApplied", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, f *fixture) {
			m := f.sendText(sessionA, alice, "fast reader", "")
			// The read receipt overtakes the worker's record of the send.
			f.ingest(sessionA, wa.MessageStatusUpdated{ChatJID: alice, MessageIDs: []string{waID(m.ID)}, Status: wa.ReceiptRead})
			f.runCommands()
			if got := f.message(sessionA, m.ID); got.Status != StatusRead {
				t.Fatalf("status = %s, want read", got.Status)
			}
			var left int
			if err := f.db.SQL.QueryRowContext(f.ctx, `SELECT COUNT(*) FROM message_receipts`).Scan(&left); err != nil || left != 0 {
				t.Fatalf("%d early receipts left, %v", left, err)
			}
		})
	})
}

func TestInbound(t *testing.T) {
	t.Parallel()

	t.Run("InboundMessageIsUnreadUntilChatIsMarkedRead", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, f *fixture) {
			msg := inbound(alice, "IN-1", "hello there", f.clock.Now())
			received := f.ingest(sessionA, wa.MessageReceived{Message: msg})
			f.ingest(sessionA, wa.MessagesUpsert{Messages: []wa.Message{msg}}) // both events for one message
			if err := f.ingester.Handle(f.ctx, received); err != nil {         // and a redelivery
				t.Fatal(err)
			}
			c := f.chat(sessionA, alice)
			if c.UnreadCount != 1 || c.LastMessageID != "IN-1" || c.Name != "Alice" {
				t.Fatalf("chat = %+v", c)
			}
			got := f.message(sessionA, "IN-1")
			if got.Direction != DirectionIn || got.Status != StatusReceived || got.Content.Text != "hello there" || got.PushName != "Alice" {
				t.Fatalf("message = %+v", got)
			}

			read, err := f.svc.MarkRead(f.ctx, tenantA, sessionA, "+15550001111")
			if err != nil || read.UnreadCount != 0 {
				t.Fatalf("mark read = %+v, %v", read, err)
			}
			cmds := f.runCommands()
			if len(cmds) != 1 || cmds[0].Type != CommandMarkRead {
				t.Fatalf("commands = %+v", cmds)
			}
			if len(f.phone.reads) != 1 || f.phone.reads[0].chatJID != alice || !reflect.DeepEqual(f.phone.reads[0].ids, []string{"IN-1"}) {
				t.Fatalf("read receipts sent = %+v", f.phone.reads)
			}
			// A late redelivery of the read message does not make it unread.
			if err := f.ingester.Handle(f.ctx, received); err != nil {
				t.Fatal(err)
			}
			if c := f.chat(sessionA, alice); c.UnreadCount != 0 {
				t.Fatalf("unread after redelivery = %d", c.UnreadCount)
			}
			// A new message is.
			f.ingest(sessionA, wa.MessageReceived{Message: inbound(alice, "IN-2", "again", f.clock.Now().Add(time.Second))})
			if c := f.chat(sessionA, alice); c.UnreadCount != 1 || c.LastMessageID != "IN-2" {
				t.Fatalf("chat after a new message = %+v", c)
			}
		})
	})

	t.Run("MarkReadOfUnknownChatIsNotFound", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, f *fixture) {
			if _, err := f.svc.MarkRead(f.ctx, tenantA, sessionA, bob); err == nil {
				t.Fatal("marking an unknown chat read succeeded")
			}
		})
	})

	t.Run("OtherTenantsSeeNothing", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, f *fixture) {
			f.ingest(sessionA, wa.MessageReceived{Message: inbound(alice, "SECRET", "for A", f.clock.Now())})
			f.sessions.add(tenantB, sessionA+"-b")
			if _, err := f.svc.Message(f.ctx, tenantB, sessionA, "SECRET"); err == nil {
				t.Fatal("tenant B read tenant A's message")
			}
			if _, _, err := f.svc.ListChats(f.ctx, tenantB, sessionA, 10, ""); err == nil {
				t.Fatal("tenant B listed tenant A's chats")
			}
		})
	})
}

// convergenceEvents is a conversation as a provider reports it: live
// messages both ways, receipts, and a history sync overlapping them.
func convergenceEvents(base time.Time) []eventlog.Event {
	at := func(s int) time.Time { return base.Add(time.Duration(s) * time.Second) }
	in1 := inbound(alice, "A1", "hi", at(1))
	in2 := inbound(alice, "A2", "you there?", at(3))
	out1 := wa.Message{MessageID: "ME1", ChatJID: alice, FromMe: true, Type: wa.TypeText, Content: wa.Content{Text: "yes"}, Timestamp: at(2)}
	bob1 := inbound(bob, "B1", "yo", at(4))
	bob1.PushName = "Bob"
	old := inbound(alice, "A0", "old", at(-100))
	return []eventlog.Event{
		wa.MessageReceived{Message: in1},
		wa.MessagesUpsert{Messages: []wa.Message{in1}},
		wa.MessagesUpsert{Messages: []wa.Message{out1}},
		wa.MessageStatusUpdated{ChatJID: alice, MessageIDs: []string{"ME1"}, Status: wa.ReceiptDelivered},
		wa.MessageStatusUpdated{ChatJID: alice, MessageIDs: []string{"ME1"}, Status: wa.ReceiptRead},
		wa.MessageReceived{Message: in2},
		wa.MessageReceived{Message: bob1},
		wa.HistorySync{Chunk: 0, Chats: []wa.HistoryChat{
			{ChatJID: alice, Name: "Alice Smith", UnreadCount: 2, Messages: []wa.Message{old, in1, out1, in2}},
		}},
		wa.HistorySync{Chunk: 1, Final: true, Chats: []wa.HistoryChat{
			{ChatJID: bob, Name: "Bob", UnreadCount: 1, Messages: []wa.Message{bob1}},
		}},
	}
}

// snapshot is everything observable about a session's messages and chats.
func snapshot(t *testing.T, f *fixture) ([]Message, []Chat) {
	t.Helper()
	var msgs []Message
	for _, chat := range []string{alice, bob} {
		items, _, err := f.store.ListMessages(f.ctx, tenantA, sessionA, chat, MaxLimit, "")
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, items...)
	}
	chats, _, err := f.store.ListChats(f.ctx, tenantA, sessionA, MaxLimit, "")
	if err != nil {
		t.Fatal(err)
	}
	return msgs, chats
}

func TestReorderedAndDuplicatedEventsConverge(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, f *fixture) {
		base := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
		events := convergenceEvents(base)
		for _, ev := range events {
			f.ingest(sessionA, ev)
		}
		wantMsgs, wantChats := snapshot(t, f)
		if len(wantMsgs) != 5 || len(wantChats) != 2 {
			t.Fatalf("in order: %d messages, %d chats", len(wantMsgs), len(wantChats))
		}
		if me := wantMsgs[1]; me.MessageID != "ME1" || me.Status != StatusRead || me.Direction != DirectionOut {
			t.Fatalf("from-me message = %+v", me)
		}
		if wantChats[0].ChatJID != bob || wantChats[1].Name != "Alice Smith" || wantChats[1].LastMessageID != "A2" ||
			wantChats[1].UnreadCount != 2 || wantChats[0].UnreadCount != 1 {
			t.Fatalf("chats in order = %+v", wantChats)
		}

		for seed := int64(1); seed <= 4; seed++ {
			g := newFixture(t, f.dialect)
			rng := rand.New(rand.NewSource(seed))
			shuffled := append([]eventlog.Event(nil), events...)
			for _, i := range rng.Perm(len(events))[:4] {
				shuffled = append(shuffled, events[i]) // duplicates
			}
			rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			for _, ev := range shuffled {
				g.ingest(sessionA, ev)
			}
			gotMsgs, gotChats := snapshot(t, g)
			if !reflect.DeepEqual(gotMsgs, wantMsgs) {
				t.Fatalf("seed %d: messages differ\n got %+v\nwant %+v", seed, gotMsgs, wantMsgs)
			}
			if !reflect.DeepEqual(gotChats, wantChats) {
				t.Fatalf("seed %d: chats differ\n got %+v\nwant %+v", seed, gotChats, wantChats)
			}
			if f.dialect == store.Postgres {
				break // one shuffled database is enough to prove the SQL on PostgreSQL
			}
		}
	})
}

func TestHistorySyncPagination(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, f *fixture) {
		const total = 10_000
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		want := map[string]bool{}
		chunk := wa.HistoryChat{ChatJID: alice, Name: "Alice"}
		for i := range total {
			// Three messages share each millisecond: the id breaks ties.
			ts := base.Add(time.Duration(i/3) * time.Millisecond)
			m := inbound(alice, fmt.Sprintf("H%05d", i), "history", ts)
			if i%7 == 0 {
				m.FromMe, m.PushName = true, ""
			}
			chunk.Messages = append(chunk.Messages, m)
			want[reportedID(tenantA, sessionA, alice, m.MessageID)] = true
			if len(chunk.Messages) == 500 {
				f.ingest(sessionA, wa.HistorySync{Chats: []wa.HistoryChat{chunk}, Chunk: i / 500})
				chunk.Messages = nil
			}
		}
		// Re-syncing a chunk stores nothing twice.
		f.ingest(sessionA, wa.HistorySync{Chats: []wa.HistoryChat{{ChatJID: alice, Messages: []wa.Message{inbound(alice, "H00001", "history", base)}}}})

		seen := map[string]bool{}
		cursor, live := "", 0
		var prev *Message
		for pages := 0; ; pages++ {
			if pages > total {
				t.Fatal("pagination does not end")
			}
			items, next, err := f.store.ListMessages(f.ctx, tenantA, sessionA, alice, 250, cursor)
			if err != nil {
				t.Fatal(err)
			}
			for i := range items {
				m := items[i]
				if seen[m.ID] {
					t.Fatalf("message %s (%s) seen twice", m.ID, m.MessageID)
				}
				seen[m.ID] = true
				if prev != nil && (m.Timestamp.After(prev.Timestamp) || (m.Timestamp.Equal(prev.Timestamp) && m.ID > prev.ID)) {
					t.Fatalf("not newest first: %s after %s", m.MessageID, prev.MessageID)
				}
				prev = &items[i]
			}
			// New messages keep arriving between pages.
			live++
			f.ingest(sessionA, wa.MessageReceived{Message: inbound(alice, fmt.Sprintf("LIVE%03d", live), "new", base.Add(time.Hour+time.Duration(live)*time.Millisecond))})
			if next == "" {
				break
			}
			cursor = next
		}
		for id := range want {
			if !seen[id] {
				t.Fatalf("history message %s never listed", id)
			}
		}
		if len(seen) != total {
			t.Fatalf("listed %d messages, want the %d of the history (live ones arrived after the first page)", len(seen), total)
		}
		var stored int
		if err := f.db.SQL.QueryRowContext(f.ctx, `SELECT COUNT(*) FROM session_messages WHERE chat_jid = $1`, alice).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if stored != total+live {
			t.Fatalf("%d rows stored, want %d", stored, total+live)
		}
	})
}

func TestCursors(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, f *fixture) {
		for i := range 3 {
			f.ingest(sessionA, wa.MessageReceived{Message: inbound(fmt.Sprintf("1555000%04d@s.whatsapp.net", i), "C", "x", f.clock.Now().Add(time.Duration(i)*time.Second))})
		}
		chats, next, err := f.store.ListChats(f.ctx, tenantA, sessionA, 2, "")
		if err != nil || len(chats) != 2 || next == "" || chats[0].ChatJID != "15550000002@s.whatsapp.net" {
			t.Fatalf("first page = %+v, %q, %v", chats, next, err)
		}
		rest, last, err := f.store.ListChats(f.ctx, tenantA, sessionA, 2, next)
		if err != nil || len(rest) != 1 || last != "" || rest[0].ChatJID != "15550000000@s.whatsapp.net" {
			t.Fatalf("second page = %+v, %q, %v", rest, last, err)
		}
		for _, bad := range []string{"garbage", next + "x", cursor{Kind: "m", Scope: sessionA, TS: 1, Key: "k"}.encode()} {
			if _, _, err := f.store.ListChats(f.ctx, tenantA, sessionA, 2, bad); err == nil {
				t.Fatalf("cursor %q accepted", bad)
			}
		}
		if _, _, err := f.store.ListMessages(f.ctx, tenantA, sessionA, alice, 2, next); err == nil {
			t.Fatal("a chats cursor was accepted for messages")
		}
	})
}
