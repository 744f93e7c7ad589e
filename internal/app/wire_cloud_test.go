package app

import (
	"context"
	"strings"
	"testing"

	"github.com/wagate/wagate/internal/testenv"
)

func TestWireCloud(t *testing.T) {
	t.Parallel()
	t.Run("ServeAnswersMetasWebhook", func(t *testing.T) {
		t.Parallel()
		cfg := testConfig(t, map[string]string{"WAGATE_DATABASE_URL": testenv.SQLitePath(t),
			"WAGATE_SECRET_KEY": "a-secret-key-of-enough-length"})
		r := startApp(t, RoleServe, cfg, nil)
		status, body := getBody(t, r.base+"/webhooks/messages?hub.mode=subscribe&hub.verify_token=unknown-token&hub.challenge=42")
		if status != 403 || !strings.Contains(body, "verify-token-mismatch") {
			t.Fatalf("handshake with an unknown token: %d %s", status, body)
		}
	})
	t.Run("ShortSecretKeyStopsTheStart", func(t *testing.T) {
		t.Parallel()
		cfg := testConfig(t, map[string]string{"WAGATE_DATABASE_URL": testenv.SQLitePath(t), "WAGATE_SECRET_KEY": "s3cret"})
		a, err := New(context.Background(), RoleServe, cfg, quietLogger())
		if err == nil {
			a.close()
			t.Fatal("started with a 6-character WAGATE_SECRET_KEY")
		}
		if !strings.Contains(err.Error(), "WAGATE_SECRET_KEY") {
			t.Fatalf("error does not name the variable: %v", err)
		}
	})
}
