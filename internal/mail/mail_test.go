package mail_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/json"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/mail"
	"github.com/wagate/wagate/internal/mail/mailtest"
	"github.com/wagate/wagate/internal/store"
	"github.com/wagate/wagate/internal/testenv"
)

const publicURL = "https://wagate.example"

func TestRender(t *testing.T) {
	t.Parallel()
	t.Run("VerifyLinkCarriesToken", func(t *testing.T) {
		t.Parallel()
		m, err := mail.Render(mail.KindVerifyEmail, "ada@example.com", "tok+/=", publicURL)
		if err != nil {
			t.Fatal(err)
		}
		want := publicURL + "/auth/verify?token=tok%2B%2F%3D"
		if m.Link != want {
			t.Fatalf("link = %q, want %q", m.Link, want)
		}
		if !strings.Contains(m.Text, want) || !strings.Contains(m.HTML, "/auth/verify?token=tok%2b%2f%3d") && !strings.Contains(m.HTML, want) {
			t.Fatalf("bodies do not carry the link:\n%s\n%s", m.Text, m.HTML)
		}
	})
	t.Run("ResetLinkCarriesToken", func(t *testing.T) {
		t.Parallel()
		m, err := mail.Render(mail.KindResetPassword, "ada@example.com", "abc", publicURL)
		if err != nil {
			t.Fatal(err)
		}
		if m.Link != publicURL+"/auth/password/reset?token=abc" {
			t.Fatalf("link = %q", m.Link)
		}
	})
	t.Run("NoticesHaveNoLink", func(t *testing.T) {
		t.Parallel()
		for _, k := range []mail.Kind{mail.KindAccountExists, mail.KindPasswordChanged} {
			m, err := mail.Render(k, "ada@example.com", "", publicURL)
			if err != nil {
				t.Fatal(err)
			}
			if m.Link != "" || m.Subject == "" || m.Text == "" || m.HTML == "" {
				t.Fatalf("%s: %+v", k, m)
			}
		}
	})
	t.Run("LinkKindWithoutTokenFails", func(t *testing.T) {
		t.Parallel()
		if _, err := mail.Render(mail.KindVerifyEmail, "ada@example.com", "", publicURL); err == nil {
			t.Fatal("rendered a verification mail without a token")
		}
	})
	t.Run("HTMLEscapesTheAddress", func(t *testing.T) {
		t.Parallel()
		m, err := mail.Render(mail.KindAccountExists, "<script>@example.com", "", publicURL)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(m.HTML, "<script>") {
			t.Fatalf("address not escaped: %s", m.HTML)
		}
	})
}

func TestSMTPMailer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	msg, err := mail.Render(mail.KindVerifyEmail, "ada@example.com", "the-token", publicURL)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("SendsTextAndHTMLParts", func(t *testing.T) {
		t.Parallel()
		srv := mailtest.NewServer(t, mailtest.Options{})
		m, err := mail.NewSMTPMailer(mail.SMTPConfig{URL: srv.URL(), From: "wagate <no-reply@wagate.example>"})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Send(ctx, msg); err != nil {
			t.Fatal(err)
		}
		got := srv.Next(t, "ada@example.com", 5*time.Second)
		if got.From != "no-reply@wagate.example" {
			t.Errorf("envelope from = %q", got.From)
		}
		if got.Subject != msg.Subject {
			t.Errorf("subject = %q, want %q", got.Subject, msg.Subject)
		}
		if got.Token() != "the-token" {
			t.Errorf("token from the text part = %q (text %q)", got.Token(), got.Text)
		}
		if !strings.Contains(got.HTML, `href="`+publicURL+`/auth/verify?token=the-token"`) {
			t.Errorf("HTML part lacks the link: %q", got.HTML)
		}
		if got.TLS {
			t.Error("server offered no STARTTLS, yet the mail came encrypted")
		}
	})

	t.Run("UpgradesWithSTARTTLSWhenOfferedAndAuthenticates", func(t *testing.T) {
		t.Parallel()
		serverTLS, clientTLS := testTLS(t)
		srv := mailtest.NewServer(t, mailtest.Options{TLSConfig: serverTLS, Username: "mailer", Password: "s3cret"})
		m, err := mail.NewSMTPMailer(mail.SMTPConfig{URL: srv.URL(), From: "no-reply@wagate.example", TLSConfig: clientTLS})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Send(ctx, msg); err != nil {
			t.Fatal(err)
		}
		got := srv.Next(t, "ada@example.com", 5*time.Second)
		if !got.TLS {
			t.Error("mail was not sent over TLS although the server offered STARTTLS")
		}
		if got.AuthUser != "mailer" {
			t.Errorf("authenticated as %q, want mailer", got.AuthUser)
		}
	})

	t.Run("WrongCredentialsFail", func(t *testing.T) {
		t.Parallel()
		serverTLS, clientTLS := testTLS(t)
		srv := mailtest.NewServer(t, mailtest.Options{TLSConfig: serverTLS, Username: "mailer", Password: "s3cret"})
		m, err := mail.NewSMTPMailer(mail.SMTPConfig{URL: "smtp://mailer:wrong@" + srv.Addr, From: "no-reply@wagate.example", TLSConfig: clientTLS})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Send(ctx, msg); err == nil {
			t.Fatal("sent with wrong credentials")
		}
	})

	t.Run("UntrustedCertificateFails", func(t *testing.T) {
		t.Parallel()
		serverTLS, _ := testTLS(t)
		srv := mailtest.NewServer(t, mailtest.Options{TLSConfig: serverTLS})
		m, err := mail.NewSMTPMailer(mail.SMTPConfig{URL: srv.URL(), From: "no-reply@wagate.example"})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Send(ctx, msg); err == nil {
			t.Fatal("sent over STARTTLS to a server whose certificate nobody trusts")
		}
	})

	t.Run("UnreachableServerFails", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		m, err := mail.NewSMTPMailer(mail.SMTPConfig{URL: "smtp://" + addr, From: "no-reply@wagate.example", Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Send(ctx, msg); err == nil {
			t.Fatal("send to a closed port succeeded")
		}
	})

	t.Run("RejectsBadConfiguration", func(t *testing.T) {
		t.Parallel()
		for _, cfg := range []mail.SMTPConfig{
			{URL: "http://mail.example.com", From: "a@example.com"},
			{URL: "smtp://", From: "a@example.com"},
			{URL: "smtp://mail.example.com:25", From: "not an address"},
		} {
			if _, err := mail.NewSMTPMailer(cfg); err == nil {
				t.Errorf("accepted %+v", cfg)
			}
		}
	})
}

func TestLogMailerLogsTheLink(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	msg, err := mail.Render(mail.KindVerifyEmail, "ada@example.com", "tok123", publicURL)
	if err != nil {
		t.Fatal(err)
	}
	if err := (mail.LogMailer{Logger: logger}).Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	if rec["level"] != "INFO" || rec["link"] != publicURL+"/auth/verify?token=tok123" || rec["to"] != "ada@example.com" {
		t.Fatalf("log record = %v", rec)
	}
}

// failingMailer fails every send.
type failingMailer struct{}

func (failingMailer) Send(context.Context, mail.Message) error { return errors.New("smtp down") }

func TestDeliverer(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			db := testenv.OpenDB(t, d)
			srv := mailtest.NewServer(t, mailtest.Options{})
			smtpMailer, err := mail.NewSMTPMailer(mail.SMTPConfig{URL: srv.URL(), From: "no-reply@wagate.example"})
			if err != nil {
				t.Fatal(err)
			}
			deliverer := newDeliverer(t, db, smtpMailer)
			ctx := context.Background()

			t.Run("EnqueuedMailIsSentOnceAndForgetsItsToken", func(t *testing.T) {
				t.Parallel()
				env := enqueue(t, db, mail.Request{TenantID: "tenant-a", To: "a@example.com", Kind: mail.KindVerifyEmail, Token: "secret-token-a"})
				if strings.Contains(string(env.Data), "secret-token-a") {
					t.Fatalf("the command on the stream carries the token: %s", env.Data)
				}
				if err := deliverer.Handle(ctx, env); err != nil {
					t.Fatal(err)
				}
				got := srv.Next(t, "a@example.com", 5*time.Second)
				if got.Token() != "secret-token-a" {
					t.Fatalf("mailed token = %q", got.Token())
				}
				// Redelivery of the same command sends nothing more.
				if err := deliverer.Handle(ctx, env); err != nil {
					t.Fatal(err)
				}
				if n := srv.Count("a@example.com"); n != 0 {
					t.Fatalf("redelivered command sent %d more mails", n)
				}
				var token sql.NullString
				var sentAt sql.NullInt64
				if err := db.SQL.QueryRow(`SELECT token, sent_at FROM outgoing_mail WHERE tenant_id = $1`, "tenant-a").Scan(&token, &sentAt); err != nil {
					t.Fatal(err)
				}
				if token.Valid || !sentAt.Valid {
					t.Fatalf("after sending: token %v, sent_at %v; want token erased and sent_at set", token, sentAt)
				}
			})

			t.Run("RolledBackTransactionLeavesNoMail", func(t *testing.T) {
				t.Parallel()
				boom := errors.New("boom")
				err := db.InTx(ctx, func(tx *sql.Tx) error {
					if err := mail.Enqueue(ctx, tx, mail.Request{TenantID: "tenant-rb", To: "rb@example.com", Kind: mail.KindPasswordChanged}, time.Now()); err != nil {
						return err
					}
					return boom
				})
				if !errors.Is(err, boom) {
					t.Fatal(err)
				}
				var n int
				if err := db.SQL.QueryRow(`SELECT COUNT(*) FROM outbox WHERE tenant_id = $1`, "tenant-rb").Scan(&n); err != nil {
					t.Fatal(err)
				}
				if err := db.SQL.QueryRow(`SELECT COUNT(*) + $2 FROM outgoing_mail WHERE tenant_id = $1`, "tenant-rb", n).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n != 0 {
					t.Fatalf("rolled-back request left %d rows", n)
				}
			})

			t.Run("FailedSendIsRetriedLater", func(t *testing.T) {
				t.Parallel()
				env := enqueue(t, db, mail.Request{TenantID: "tenant-f", To: "f@example.com", Kind: mail.KindResetPassword, Token: "tok-f"})
				failing := newDeliverer(t, db, failingMailer{})
				if err := failing.Handle(ctx, env); err == nil {
					t.Fatal("a failed send reported success, so it would never be retried")
				}
				if err := deliverer.Handle(ctx, env); err != nil {
					t.Fatal(err)
				}
				if got := srv.Next(t, "f@example.com", 5*time.Second); got.Token() != "tok-f" {
					t.Fatalf("retried mail token = %q", got.Token())
				}
			})

			t.Run("OtherTenantsMailIsNotFound", func(t *testing.T) {
				t.Parallel()
				env := enqueue(t, db, mail.Request{TenantID: "tenant-x", To: "x@example.com", Kind: mail.KindPasswordChanged})
				forged := env
				forged.TenantID = "tenant-y"
				if err := deliverer.Handle(ctx, forged); err != nil {
					t.Fatal(err)
				}
				if n := srv.Count("x@example.com"); n != 0 {
					t.Fatal("a command with another tenant id sent the mail")
				}
			})

			t.Run("CooldownSeesRecentMail", func(t *testing.T) {
				t.Parallel()
				now := time.Now()
				enqueue(t, db, mail.Request{TenantID: "tenant-c", To: "c@example.com", Kind: mail.KindVerifyEmail, Token: "t"})
				err := db.InTx(ctx, func(tx *sql.Tx) error {
					recent, err := mail.RecentlyQueued(ctx, tx, "tenant-c", mail.KindVerifyEmail, now.Add(-time.Minute))
					if err != nil {
						return err
					}
					other, err := mail.RecentlyQueued(ctx, tx, "tenant-c", mail.KindResetPassword, now.Add(-time.Minute))
					if err != nil {
						return err
					}
					if !recent || other {
						t.Errorf("recent verify = %v (want true), recent reset = %v (want false)", recent, other)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func newDeliverer(t *testing.T, db *store.DB, m mail.Mailer) *mail.Deliverer {
	t.Helper()
	d, err := mail.NewDeliverer(mail.DelivererConfig{DB: db, Mailer: m, PublicURL: publicURL}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if sub := d.Subscription(); sub.Stream != mail.Commands || !sub.Matches(mail.TypeRequested) {
		t.Fatalf("subscription = %+v", sub)
	}
	return d
}

// enqueue requests a mail in its own transaction and returns the command
// read back from the outbox, as a consumer would receive it.
func enqueue(t *testing.T, db *store.DB, r mail.Request) eventlog.Envelope {
	t.Helper()
	ctx := context.Background()
	if err := db.InTx(ctx, func(tx *sql.Tx) error { return mail.Enqueue(ctx, tx, r, time.Now()) }); err != nil {
		t.Fatal(err)
	}
	var env eventlog.Envelope
	var occurred int64
	var data string
	err := db.SQL.QueryRow(`SELECT id, type, tenant_id, occurred_at, data FROM outbox
		WHERE stream = $1 AND tenant_id = $2 ORDER BY seq DESC LIMIT 1`, mail.Commands, r.TenantID).
		Scan(&env.ID, &env.Type, &env.TenantID, &occurred, &data)
	if err != nil {
		t.Fatal(err)
	}
	env.OccurredAt = time.UnixMilli(occurred)
	env.Data = json.RawMessage(data)
	return env
}

// testTLS makes a throwaway CA-less self-signed certificate for 127.0.0.1:
// the server's config and a client config that trusts exactly it.
func testTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mailtest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	client = &tls.Config{RootCAs: pool}
	return server, client
}
