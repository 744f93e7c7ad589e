package cloud

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/session"
	"github.com/wagate/wagate/internal/testenv"
)

func TestStore(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, d, testSecretKey)
			ctx := context.Background()
			id := e.createCloudSession("tenant-s", cloudSettings())
			ref := session.Ref{TenantID: "tenant-s", SessionID: id}

			t.Run("CandidatesByPhoneNumberID", func(t *testing.T) {
				cands, err := e.cloud.candidates(ctx, testPhoneNumberID)
				if err != nil || len(cands) != 1 || cands[0].ref != ref || cands[0].appSecret != testAppSecret {
					t.Fatalf("%+v %v", cands, err)
				}
				if cands, _ := e.cloud.candidates(ctx, "42"); len(cands) != 0 {
					t.Fatalf("unknown number has candidates %+v", cands)
				}
			})
			t.Run("AnotherKeyReadsNothing", func(t *testing.T) {
				other, _ := NewSecrets("a different key, long enough")
				st := NewStore(e.db, other)
				if cands, err := st.candidates(ctx, testPhoneNumberID); err != nil || len(cands) != 0 {
					t.Fatalf("%+v %v", cands, err)
				}
				if _, err := st.credentials(ctx, ref); !errors.Is(err, errUnsealable) {
					t.Fatalf("credentials with another key: %v", err)
				}
				if ok, _ := st.verifyTokenKnown(ctx, testVerifyToken); ok {
					t.Fatal("verify token known under another key")
				}
			})
			t.Run("InboxKeepsOrderAndRedeliveredCommandsOnce", func(t *testing.T) {
				for i, v := range []string{`{"messages":[{"id":"a"}]}`, `{"messages":[{"id":"b"}]}`} {
					env := eventlog.MustEnvelope(ctx, ref.TenantID, ref.SessionID, WebhookCommand{Value: json.RawMessage(v)})
					for range 2 { // the second is a redelivery
						if err := e.cloud.enqueue(ctx, SubscriptionName, env, []byte(v)); err != nil {
							t.Fatalf("enqueue %d: %v", i, err)
						}
					}
				}
				items, err := e.cloud.inbox(ctx, ref, 10)
				if err != nil || len(items) != 2 || items[0].seq >= items[1].seq {
					t.Fatalf("inbox %+v %v", items, err)
				}
				if other, _ := e.cloud.inbox(ctx, session.Ref{TenantID: "tenant-x", SessionID: id}, 10); len(other) != 0 {
					t.Fatal("another tenant reads the inbox")
				}
				if err := e.cloud.dropInbox(ctx, ref, items[0].seq); err != nil {
					t.Fatal(err)
				}
				if left, _ := e.cloud.inbox(ctx, ref, 10); len(left) != 1 || left[0].seq != items[1].seq {
					t.Fatalf("left %+v", left)
				}
			})
			t.Run("MediaIDs", func(t *testing.T) {
				if err := e.cloud.saveMediaIDs(ctx, ref, map[string]string{"wamid.I": "777"}); err != nil {
					t.Fatal(err)
				}
				if m, err := e.cloud.mediaID(ctx, ref, "wamid.I"); err != nil || m != "777" {
					t.Fatalf("%q %v", m, err)
				}
				if _, err := e.cloud.mediaID(ctx, session.Ref{TenantID: "tenant-x", SessionID: id}, "wamid.I"); err == nil {
					t.Fatal("another tenant reads media ids")
				}
			})
			t.Run("CleanupForgetsOldItems", func(t *testing.T) {
				if _, res, _ := e.post(payloadText, testAppSecret); res.Accepted != 1 {
					t.Fatalf("%+v", res)
				}
				if n, err := e.cloud.Cleanup(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
					t.Fatalf("cleanup of fresh items: %d %v", n, err)
				}
				if n, err := e.cloud.Cleanup(ctx, time.Now().Add(time.Minute)); err != nil || n != 1 {
					t.Fatalf("cleanup: %d %v", n, err)
				}
			})
			t.Run("PurgeRemovesEverything", func(t *testing.T) {
				if err := e.cloud.Purge(ctx, ref); err != nil {
					t.Fatal(err)
				}
				for _, table := range []string{"cloud_sessions", "cloud_inbox", "cloud_media", "cloud_webhook_seen"} {
					var n int
					if err := e.db.SQL.QueryRow(`SELECT COUNT(*) FROM `+table+` WHERE session_id = $1`, id).Scan(&n); err != nil || n != 0 {
						t.Fatalf("%s: %d rows left (%v)", table, n, err)
					}
				}
				if _, err := e.cloud.credentials(ctx, ref); !errors.Is(err, errNoCredentials) {
					t.Fatalf("credentials after purge: %v", err)
				}
			})
		})
	}
}
