package whatsmeow

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	wm "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/proto/waHistorySync"
	"go.mau.fi/whatsmeow/proto/waWeb"
	wmstore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/wagate/wagate/internal/session"
	"github.com/wagate/wagate/internal/wa"
)

var (
	contact = types.NewJID("15559990000", types.DefaultUserServer)
	group   = types.NewJID("120363000000000000", types.GroupServer)
	ts      = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
)

func inbound(msg *waE2E.Message) *events.Message {
	sender := contact
	sender.Device = 3 // device parts are dropped from chat and sender JIDs
	return &events.Message{
		Info: types.MessageInfo{
			MessageSource: types.MessageSource{Chat: contact, Sender: sender},
			ID:            "3EB0AAA", PushName: "Ann", Timestamp: ts,
		},
		Message: msg,
	}
}

func TestTranslateMessage(t *testing.T) {
	t.Parallel()
	lat, lng := 52.52, 13.405
	media := func(kind string) string {
		return encodeMediaRef(mediaRef{kind, "/v/t62/abc", []byte("key"), []byte("enc"), []byte("sha"), 1234})
	}
	cases := []struct {
		name    string
		msg     *waE2E.Message
		typ     wa.MessageType
		content wa.Content
	}{
		{"Text", &waE2E.Message{Conversation: proto.String("hello")}, wa.TypeText, wa.Content{Text: "hello"}},
		{"ExtendedTextReply", &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
			Text: proto.String("re: hello"), ContextInfo: &waE2E.ContextInfo{StanzaID: proto.String("QUOTED1")},
		}}, wa.TypeText, wa.Content{Text: "re: hello", ReplyTo: "QUOTED1"}},
		{"Image", &waE2E.Message{ImageMessage: &waE2E.ImageMessage{
			Caption: proto.String("look"), Mimetype: proto.String("image/jpeg"), FileLength: proto.Uint64(1234),
			DirectPath: proto.String("/v/t62/abc"), MediaKey: []byte("key"), FileEncSHA256: []byte("enc"), FileSHA256: []byte("sha"),
		}}, wa.TypeImage, wa.Content{Caption: "look", Mimetype: "image/jpeg", Size: 1234, MediaKey: media("image")}},
		{"Video", &waE2E.Message{VideoMessage: &waE2E.VideoMessage{
			Mimetype: proto.String("video/mp4"), FileLength: proto.Uint64(1234),
			DirectPath: proto.String("/v/t62/abc"), MediaKey: []byte("key"), FileEncSHA256: []byte("enc"), FileSHA256: []byte("sha"),
		}}, wa.TypeVideo, wa.Content{Mimetype: "video/mp4", Size: 1234, MediaKey: media("video")}},
		{"VoiceNote", &waE2E.Message{AudioMessage: &waE2E.AudioMessage{
			Mimetype: proto.String("audio/ogg; codecs=opus"), FileLength: proto.Uint64(1234), PTT: proto.Bool(true),
			DirectPath: proto.String("/v/t62/abc"), MediaKey: []byte("key"), FileEncSHA256: []byte("enc"), FileSHA256: []byte("sha"),
		}}, wa.TypeAudio, wa.Content{Mimetype: "audio/ogg; codecs=opus", Size: 1234, VoiceNote: true, MediaKey: media("audio")}},
		{"Document", &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{
			Mimetype: proto.String("application/pdf"), FileLength: proto.Uint64(1234), FileName: proto.String("invoice.pdf"),
			Caption:    proto.String("your invoice"),
			DirectPath: proto.String("/v/t62/abc"), MediaKey: []byte("key"), FileEncSHA256: []byte("enc"), FileSHA256: []byte("sha"),
		}}, wa.TypeDocument, wa.Content{Mimetype: "application/pdf", Size: 1234, Filename: "invoice.pdf", Caption: "your invoice", MediaKey: media("document")}},
		{"Location", &waE2E.Message{LocationMessage: &waE2E.LocationMessage{
			DegreesLatitude: &lat, DegreesLongitude: &lng, Name: proto.String("Berlin"), Address: proto.String("Pariser Platz"),
		}}, wa.TypeLocation, wa.Content{Latitude: &lat, Longitude: &lng, Name: "Berlin", Address: "Pariser Platz"}},
		{"Contact", &waE2E.Message{ContactMessage: &waE2E.ContactMessage{
			DisplayName: proto.String("Bob"), Vcard: proto.String("BEGIN:VCARD\nFN:Bob\nTEL;type=CELL;waid=15551234567:+1 555 123 4567\nEND:VCARD"),
		}}, wa.TypeContact, wa.Content{ContactName: "Bob", ContactPhone: "+15551234567", VCard: "BEGIN:VCARD\nFN:Bob\nTEL;type=CELL;waid=15551234567:+1 555 123 4567\nEND:VCARD"}},
		{"Reaction", &waE2E.Message{ReactionMessage: &waE2E.ReactionMessage{
			Key: &waCommon.MessageKey{ID: proto.String("TARGET1")}, Text: proto.String("👍"),
		}}, wa.TypeReaction, wa.Content{ReactionTo: "TARGET1", Emoji: "👍"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, kind := translateMessage(inbound(c.msg))
			if kind != newMessage {
				t.Fatalf("kind = %v", kind)
			}
			want := wa.Message{MessageID: "3EB0AAA", ChatJID: "15559990000@s.whatsapp.net", SenderJID: "15559990000@s.whatsapp.net",
				PushName: "Ann", Type: c.typ, Content: c.content, Timestamp: ts}
			if g, w := asJSON(t, got), asJSON(t, want); g != w {
				t.Fatalf("got  %s\nwant %s", g, w)
			}
			if got.Content.MediaKey != c.content.MediaKey {
				t.Fatalf("media key = %q, want %q", got.Content.MediaKey, c.content.MediaKey)
			}
		})
	}

	t.Run("FromMeInGroup", func(t *testing.T) {
		t.Parallel()
		evt := inbound(&waE2E.Message{Conversation: proto.String("hi all")})
		evt.Info.Chat, evt.Info.IsFromMe, evt.Info.IsGroup = group, true, true
		got, _ := translateMessage(evt)
		if !got.FromMe || got.ChatJID != "120363000000000000@g.us" {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("EditIsAnUpdate", func(t *testing.T) {
		t.Parallel()
		evt := inbound(&waE2E.Message{Conversation: proto.String("fixed typo")})
		evt.IsEdit = true
		if _, kind := translateMessage(evt); kind != updatedMessage {
			t.Fatalf("kind = %v", kind)
		}
	})
	t.Run("ProtocolMessagesAreSkipped", func(t *testing.T) {
		t.Parallel()
		for _, m := range []*waE2E.Message{
			{ProtocolMessage: &waE2E.ProtocolMessage{Type: waE2E.ProtocolMessage_REVOKE.Enum()}},
			{SenderKeyDistributionMessage: &waE2E.SenderKeyDistributionMessage{GroupID: proto.String("g")}},
			nil,
		} {
			if _, kind := translateMessage(inbound(m)); kind != skipMessage {
				t.Errorf("%v: kind = %v", m, kind)
			}
		}
	})
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPhoneFromVCard(t *testing.T) {
	t.Parallel()
	for vcard, want := range map[string]string{
		"BEGIN:VCARD\nTEL;waid=4915112345678:+49 151 12345678\nEND:VCARD": "+4915112345678",
		"BEGIN:VCARD\r\nTEL;TYPE=CELL:+1 (555) 000-1111\r\nEND:VCARD":     "+15550001111",
		"BEGIN:VCARD\nFN:No number\nEND:VCARD":                            "",
	} {
		if got := phoneFromVCard(vcard); got != want {
			t.Errorf("phoneFromVCard(%q) = %q, want %q", vcard, got, want)
		}
	}
}

func TestTranslateReceipt(t *testing.T) {
	t.Parallel()
	receipt := func(typ types.ReceiptType, fromMe bool) *events.Receipt {
		return &events.Receipt{
			MessageSource: types.MessageSource{Chat: contact, Sender: contact, IsFromMe: fromMe},
			MessageIDs:    []types.MessageID{"A", "B"}, Timestamp: ts, Type: typ,
		}
	}
	for typ, want := range map[types.ReceiptType]wa.ReceiptType{
		types.ReceiptTypeDelivered: wa.ReceiptDelivered,
		types.ReceiptTypeRead:      wa.ReceiptRead,
		types.ReceiptTypePlayed:    wa.ReceiptRead,
	} {
		got, ok := translateReceipt(receipt(typ, false))
		if !ok || got.Type != want || got.ChatJID != "15559990000@s.whatsapp.net" || fmt.Sprint(got.MessageIDs) != "[A B]" || !got.Timestamp.Equal(ts) {
			t.Errorf("%q: %+v %v", typ, got, ok)
		}
	}
	for _, r := range []*events.Receipt{
		receipt(types.ReceiptTypeReadSelf, true),
		receipt(types.ReceiptTypeRead, true), // our other device read it
		receipt(types.ReceiptTypeRetry, false),
		receipt(types.ReceiptTypeSender, false),
		{Type: types.ReceiptTypeRead},
	} {
		if _, ok := translateReceipt(r); ok {
			t.Errorf("receipt %q fromMe=%v must be skipped", r.Type, r.IsFromMe)
		}
	}
}

// historyClient is a whatsmeow client that is never connected: its
// ParseWebMessage is the parser production uses.
func historyClient() *wm.Client {
	own := types.NewJID("15550001111", types.DefaultUserServer)
	own.Device = 7
	return wm.NewClient(&wmstore.Device{ID: &own}, nil)
}

func webMsg(chat types.JID, id string, fromMe bool, text string, at time.Time) *waHistorySync.HistorySyncMsg {
	return &waHistorySync.HistorySyncMsg{Message: &waWeb.WebMessageInfo{
		Key:              &waCommon.MessageKey{RemoteJID: proto.String(chat.String()), FromMe: proto.Bool(fromMe), ID: proto.String(id)},
		Message:          &waE2E.Message{Conversation: proto.String(text)},
		MessageTimestamp: proto.Uint64(uint64(at.Unix())),
	}}
}

func TestTranslateHistory(t *testing.T) {
	t.Parallel()
	cli := historyClient()
	conv := &waHistorySync.Conversation{ID: proto.String(contact.String()), Name: proto.String("Ann"), UnreadCount: proto.Uint32(2)}
	// WhatsApp sends newest first.
	conv.Messages = []*waHistorySync.HistorySyncMsg{
		webMsg(contact, "M3", false, "third", ts.Add(2*time.Minute)),
		webMsg(contact, "M2", true, "second", ts.Add(time.Minute)),
		{Message: &waWeb.WebMessageInfo{Key: &waCommon.MessageKey{RemoteJID: proto.String(contact.String()), ID: proto.String("PROTO")},
			Message: &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{}}}},
		webMsg(contact, "M1", false, "first", ts),
	}
	data := &waHistorySync.HistorySync{
		SyncType:      waHistorySync.HistorySync_INITIAL_BOOTSTRAP.Enum(),
		Conversations: []*waHistorySync.Conversation{conv, {ID: proto.String("not a jid@@")}},
	}
	chats := translateHistory(data, cli.ParseWebMessage)
	if len(chats) != 1 {
		t.Fatalf("chats = %d, want 1 (unparseable chat skipped)", len(chats))
	}
	c := chats[0]
	if c.ChatJID != "15559990000@s.whatsapp.net" || c.Name != "Ann" || c.UnreadCount != 2 || len(c.Messages) != 3 {
		t.Fatalf("chat = %+v", c)
	}
	if c.Messages[0].MessageID != "M1" || c.Messages[2].MessageID != "M3" {
		t.Fatalf("messages must be oldest first: %v, %v", c.Messages[0].MessageID, c.Messages[2].MessageID)
	}
	if !c.Messages[1].FromMe || c.Messages[1].SenderJID != "15550001111@s.whatsapp.net" {
		t.Fatalf("from-me message = %+v", c.Messages[1])
	}
	if c.Messages[0].FromMe || c.Messages[0].Content.Text != "first" || !c.Messages[0].Timestamp.Equal(ts) {
		t.Fatalf("inbound message = %+v", c.Messages[0])
	}

	t.Run("LargeSyncIsChunked", func(t *testing.T) {
		t.Parallel()
		var convs []*waHistorySync.Conversation
		for i := range 3 {
			chat := types.NewJID(fmt.Sprintf("1555000%04d", i), types.DefaultUserServer)
			cv := &waHistorySync.Conversation{ID: proto.String(chat.String())}
			for j := range 400 {
				cv.Messages = append(cv.Messages, webMsg(chat, fmt.Sprintf("C%dM%d", i, j), j%2 == 0, "x", ts.Add(-time.Duration(j)*time.Minute)))
			}
			convs = append(convs, cv)
		}
		chunks := session.ChunkHistory(translateHistory(&waHistorySync.HistorySync{Conversations: convs}, cli.ParseWebMessage), session.MaxHistoryChunk)
		total := 0
		for _, ch := range chunks {
			n := 0
			for _, c := range ch {
				n += len(c.Messages)
			}
			if n > session.MaxHistoryChunk {
				t.Fatalf("chunk of %d messages", n)
			}
			total += n
		}
		if total != 1200 || len(chunks) != 3 {
			t.Fatalf("%d messages in %d chunks", total, len(chunks))
		}
	})
}

func TestConnectionChange(t *testing.T) {
	t.Parallel()
	cases := []struct {
		evt       any
		reason    session.DisconnectReason
		reconnect bool
	}{
		{&events.Disconnected{}, session.ReasonConnectionLost, false},
		{&events.LoggedOut{Reason: events.ConnectFailureLoggedOut}, session.ReasonLoggedOut, false},
		{&events.LoggedOut{Reason: events.ConnectFailureMainDeviceGone}, session.ReasonLoggedOut, false},
		{&events.LoggedOut{Reason: events.ConnectFailureUnknownLogout}, session.ReasonBanned, false},
		{&events.StreamReplaced{}, session.ReasonReplaced, false},
		{&events.TemporaryBan{Code: events.TempBanBlockedByUsers, Expire: time.Hour}, session.ReasonBanned, false},
		{&events.ClientOutdated{}, session.ReasonClientOutdated, false},
		{&events.KeepAliveTimeout{ErrorCount: 3}, session.ReasonKeepAliveTimeout, true},
		{&events.PairError{}, session.ReasonPairFailed, false},
		{&events.ConnectFailure{Reason: events.ConnectFailureClientOutdated}, session.ReasonClientOutdated, false},
		{&events.ConnectFailure{Reason: events.ConnectFailureGeneric}, session.ReasonError, false},
		{&events.StreamError{Code: "500"}, session.ReasonError, false},
	}
	for _, c := range cases {
		reason, reconnect, ok := connectionChange(c.evt)
		if !ok || reason != c.reason || reconnect != c.reconnect {
			t.Errorf("%T%+v → %q reconnect=%v ok=%v, want %q reconnect=%v", c.evt, c.evt, reason, reconnect, ok, c.reason, c.reconnect)
		}
	}
	for _, evt := range []any{&events.Connected{}, &events.QR{}, &events.Message{}, "x"} {
		if _, _, ok := connectionChange(evt); ok {
			t.Errorf("%T is not a disconnection", evt)
		}
	}
	// The manager reconnects only what is transient.
	if session.ReasonReplaced.Retryable() || !session.ReasonConnectionLost.Retryable() {
		t.Fatal("retry policy changed")
	}
}
