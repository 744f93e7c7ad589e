package cloud

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/wagate/wagate/internal/wa"
)

// Webhook payloads as Meta's documentation shows them (Cloud API →
// Webhooks → messages), with the documentation's placeholder values made
// concrete.

const payloadText = `{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{
  "messaging_product":"whatsapp",
  "metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
  "contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],
  "messages":[{"from":"16505551234","id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
    "timestamp":"1749416383","type":"text","text":{"body":"Does it come in another color?"}}]},
  "field":"messages"}]}]}`

const payloadImage = `{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{
  "messaging_product":"whatsapp",
  "metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
  "contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],
  "messages":[{"from":"16505551234","id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
    "timestamp":"1750090702","type":"image","image":{"caption":"Black, 4TB, RAID 5","mime_type":"image/jpeg",
    "sha256":"JBJZm2sqvOTUOVVUbHd0FmFS9JgSMhM8Ho/2kqHVLGg=","id":"1003383421387256"}}]},
  "field":"messages"}]}]}`

const payloadReaction = `{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{
  "messaging_product":"whatsapp",
  "metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
  "contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],
  "messages":[{"from":"16505551234","id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTNDNDQzRjQ2RTg0RTQ2QjQyMwA=",
    "timestamp":"1750090702","type":"reaction",
    "reaction":{"message_id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA","emoji":"\ud83d\udc4d"}}]},
  "field":"messages"}]}]}`

// statusPayload is a status notification for wamid with status and, for
// failures, errors.
func statusPayload(wamid, status, errors string) string {
	extra := `,"conversation":{"id":"CONVERSATION_ID","origin":{"type":"service"}},"pricing":{"billable":true,"pricing_model":"PMP","category":"service"}`
	if errors != "" {
		extra = `,"errors":` + errors
	}
	return `{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{
  "messaging_product":"whatsapp",
  "metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
  "statuses":[{"id":"` + wamid + `","status":"` + status + `","timestamp":"1750263773","recipient_id":"16505551234"` + extra + `}]},
  "field":"messages"}]}]}`
}

const errors131047 = `[{"code":131047,"title":"Re-engagement message","message":"Re-engagement message",
  "error_data":{"details":"Message failed to send because more than 24 hours have passed since the customer last replied to this number."},
  "href":"https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}]`

// valueOf returns the first change value of a payload.
func valueOf(t *testing.T, payload string) changeValue {
	t.Helper()
	var p webhookPayload
	if err := json.Unmarshal([]byte(payload), &p); err != nil {
		t.Fatalf("payload: %v", err)
	}
	var v changeValue
	if err := json.Unmarshal(p.Entry[0].Changes[0].Value, &v); err != nil {
		t.Fatalf("value: %v", err)
	}
	return v
}

func TestTranslateInboundMessages(t *testing.T) {
	t.Parallel()
	t.Run("Text", func(t *testing.T) {
		t.Parallel()
		tr := translate(valueOf(t, payloadText))
		if len(tr.messages) != 1 || len(tr.receipts) != 0 {
			t.Fatalf("%+v", tr)
		}
		m := tr.messages[0]
		if m.MessageID != "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=" || m.ChatJID != "16505551234@s.whatsapp.net" ||
			m.SenderJID != m.ChatJID || m.PushName != "Sheena Nelson" || m.FromMe || m.Type != wa.TypeText ||
			m.Content.Text != "Does it come in another color?" || !m.Timestamp.Equal(time.Unix(1749416383, 0)) {
			t.Fatalf("%+v", m)
		}
	})
	t.Run("ImageKeepsItsMediaID", func(t *testing.T) {
		t.Parallel()
		tr := translate(valueOf(t, payloadImage))
		m := tr.messages[0]
		if m.Type != wa.TypeImage || m.Content.Mimetype != "image/jpeg" || m.Content.Caption != "Black, 4TB, RAID 5" ||
			m.Content.MediaKey != "1003383421387256" || tr.mediaIDs[m.MessageID] != "1003383421387256" {
			t.Fatalf("%+v %v", m, tr.mediaIDs)
		}
	})
	t.Run("Reaction", func(t *testing.T) {
		t.Parallel()
		m := translate(valueOf(t, payloadReaction)).messages[0]
		if m.Type != wa.TypeReaction || m.Content.Emoji != "👍" ||
			m.Content.ReactionTo != "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA" || m.Content.ReplyTo != "" {
			t.Fatalf("%+v", m)
		}
	})
	one := func(t *testing.T, msg string) (wa.Message, translated) {
		t.Helper()
		tr := translate(changeValue{Messages: []json.RawMessage{json.RawMessage(msg)}})
		if len(tr.messages) == 0 {
			return wa.Message{}, tr
		}
		return tr.messages[0], tr
	}
	t.Run("ReplyCarriesTheQuotedID", func(t *testing.T) {
		t.Parallel()
		m, _ := one(t, `{"context":{"from":"15550783881","id":"wamid.QUOTED"},"from":"16505551234","id":"wamid.R","timestamp":"1","type":"text","text":{"body":"yes"}}`)
		if m.Content.ReplyTo != "wamid.QUOTED" || m.Content.Text != "yes" {
			t.Fatalf("%+v", m)
		}
	})
	t.Run("Location", func(t *testing.T) {
		t.Parallel()
		m, _ := one(t, `{"from":"16505551234","id":"wamid.L","timestamp":"1","type":"location","location":{"address":"1071 5th Ave, New York","latitude":40.782910059774,"longitude":-73.959075808525,"name":"Solomon R. Guggenheim Museum","url":"https://www.guggenheim.org/"}}`)
		if m.Type != wa.TypeLocation || m.Content.Latitude == nil || *m.Content.Latitude != 40.782910059774 || m.Content.Name != "Solomon R. Guggenheim Museum" {
			t.Fatalf("%+v", m)
		}
	})
	t.Run("Contacts", func(t *testing.T) {
		t.Parallel()
		m, _ := one(t, `{"from":"16505551234","id":"wamid.C","timestamp":"1","type":"contacts","contacts":[{"name":{"first_name":"Barbara","formatted_name":"Barbara J. Johnson"},"phones":[{"phone":"+1 (940) 555-1234","type":"HOME"},{"phone":"+1 (650) 555-1234","type":"WORK","wa_id":"16505551234"}]}]}`)
		if m.Type != wa.TypeContact || m.Content.ContactName != "Barbara J. Johnson" || m.Content.ContactPhone != "+19405551234" || m.Content.VCard == "" {
			t.Fatalf("%+v", m)
		}
	})
	t.Run("VoiceNote", func(t *testing.T) {
		t.Parallel()
		m, tr := one(t, `{"from":"16505551234","id":"wamid.V","timestamp":"1","type":"audio","audio":{"mime_type":"audio/ogg; codecs=opus","sha256":"x","id":"9","voice":true}}`)
		if m.Type != wa.TypeAudio || !m.Content.VoiceNote || tr.mediaIDs["wamid.V"] != "9" {
			t.Fatalf("%+v", m)
		}
	})
	t.Run("ButtonReplyIsText", func(t *testing.T) {
		t.Parallel()
		m, _ := one(t, `{"from":"16505551234","id":"wamid.B","timestamp":"1","type":"interactive","interactive":{"type":"button_reply","button_reply":{"id":"b1","title":"Yes please"}}}`)
		if m.Type != wa.TypeText || m.Content.Text != "Yes please" {
			t.Fatalf("%+v", m)
		}
	})
	t.Run("UnsupportedIsKeptAsUnknown", func(t *testing.T) {
		t.Parallel()
		m, _ := one(t, `{"from":"16505551234","id":"wamid.U","timestamp":"1","type":"unsupported","errors":[{"code":131051,"title":"Message type unknown"}]}`)
		if m.Type != wa.TypeUnknown || m.MessageID != "wamid.U" {
			t.Fatalf("%+v", m)
		}
	})
	t.Run("SystemNoticesAndMalformedEntriesAreSkipped", func(t *testing.T) {
		t.Parallel()
		for _, raw := range []string{
			`{"from":"16505551234","id":"wamid.S","timestamp":"1","type":"system","system":{"body":"NAME changed from 1 to 2"}}`,
			`{"from":"not-a-number","id":"wamid.X","type":"text","text":{"body":"x"}}`,
			`{"from":"16505551234","type":"text","text":{"body":"no id"}}`,
			`["not an object"]`,
		} {
			if m, tr := one(t, raw); m.MessageID != "" || tr.skipped != 1 {
				t.Fatalf("%s: %+v", raw, tr)
			}
		}
	})
}

func TestTranslateStatuses(t *testing.T) {
	t.Parallel()
	const wamid = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA"
	t.Run("SentIsAlreadyKnown", func(t *testing.T) {
		t.Parallel()
		if tr := translate(valueOf(t, statusPayload(wamid, "sent", ""))); len(tr.receipts) != 0 {
			t.Fatalf("%+v", tr)
		}
	})
	for _, st := range []wa.ReceiptType{wa.ReceiptDelivered, wa.ReceiptRead} {
		t.Run(string(st), func(t *testing.T) {
			t.Parallel()
			tr := translate(valueOf(t, statusPayload(wamid, string(st), "")))
			if len(tr.receipts) != 1 {
				t.Fatalf("%+v", tr)
			}
			r := tr.receipts[0]
			if r.Type != st || r.MessageIDs[0] != wamid || r.ChatJID != "16505551234@s.whatsapp.net" || !r.Timestamp.Equal(time.Unix(1750263773, 0)) {
				t.Fatalf("%+v", r)
			}
		})
	}
	t.Run("FailedCarriesReasonAndError", func(t *testing.T) {
		t.Parallel()
		r := translate(valueOf(t, statusPayload(wamid, "failed", errors131047))).receipts[0]
		if r.Type != wa.ReceiptFailed || r.Reason != ReasonReengagementWindow ||
			r.Error != "(#131047) Re-engagement message: Message failed to send because more than 24 hours have passed since the customer last replied to this number." {
			t.Fatalf("%+v", r)
		}
		r = translate(valueOf(t, statusPayload(wamid, "failed", `[{"code":131026,"title":"Message undeliverable"}]`))).receipts[0]
		if r.Reason != ReasonInvalidRecipient {
			t.Fatalf("%+v", r)
		}
		r = translate(valueOf(t, statusPayload(wamid, "failed", `[]`))).receipts[0]
		if r.Reason != ReasonProviderError {
			t.Fatalf("%+v", r)
		}
	})
}

func TestItemKeys(t *testing.T) {
	t.Parallel()
	v := valueOf(t, statusPayload("wamid.K", "read", ""))
	if k := statusKey(v.Statuses[0]); k != "s:wamid.K:read" {
		t.Fatalf("status key %q", k)
	}
	if k := messageKey(valueOf(t, payloadText).Messages[0]); k != "m:wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=" {
		t.Fatalf("message key %q", k)
	}
	if messageKey(json.RawMessage(`{"from":"1"}`)) != "" || statusKey(json.RawMessage(`{"id":"x"}`)) != "" {
		t.Fatal("items without ids must have no key")
	}
}
