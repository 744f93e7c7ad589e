package cloud

import (
	"strings"
	"testing"
)

func TestSecrets(t *testing.T) {
	t.Parallel()
	s, err := NewSecrets("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		sealed, err := s.Seal("EAAJ-token", "s1/access_token")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(sealed, "EAAJ-token") || !strings.HasPrefix(sealed, "v1.") {
			t.Fatalf("sealed %q", sealed)
		}
		if plain, err := s.Open(sealed, "s1/access_token"); err != nil || plain != "EAAJ-token" {
			t.Fatalf("open %q %v", plain, err)
		}
		again, _ := s.Seal("EAAJ-token", "s1/access_token")
		if again == sealed {
			t.Fatal("two seals of one value are equal: the nonce is not random")
		}
	})
	t.Run("BoundToItsRowAndColumn", func(t *testing.T) {
		t.Parallel()
		sealed, _ := s.Seal("secret", "s1/app_secret")
		for _, other := range []string{"s2/app_secret", "s1/access_token"} {
			if _, err := s.Open(sealed, other); err == nil {
				t.Fatalf("opened with binding %s", other)
			}
		}
	})
	t.Run("AnotherKeyCannotOpen", func(t *testing.T) {
		t.Parallel()
		sealed, _ := s.Seal("secret", "b")
		other, _ := NewSecrets("another key of enough length")
		if _, err := other.Open(sealed, "b"); err == nil {
			t.Fatal("another key opened the secret")
		}
		if _, err := s.Open("v1.garbage!", "b"); err == nil {
			t.Fatal("garbage opened")
		}
		if _, err := s.Open(sealed[:len(sealed)-2]+"AA", "b"); err == nil {
			t.Fatal("tampered ciphertext opened")
		}
	})
	t.Run("MACIsKeyedAndStable", func(t *testing.T) {
		t.Parallel()
		other, _ := NewSecrets("another key of enough length")
		first, again := s.MAC("tok"), s.MAC("tok")
		if first != again || first == s.MAC("tok2") || first == other.MAC("tok") {
			t.Fatal("MAC is not a keyed function of its input")
		}
	})
	t.Run("ShortKeyRefused", func(t *testing.T) {
		t.Parallel()
		if _, err := NewSecrets("s3cret"); err == nil || !strings.Contains(err.Error(), "WAGATE_SECRET_KEY") {
			t.Fatalf("err %v", err)
		}
	})
}

func TestSignature(t *testing.T) {
	t.Parallel()
	body := []byte(`{"object":"whatsapp_business_account"}`)
	header := Sign(testAppSecret, body)
	sum, ok := parseSignature(header)
	if !ok || !validSignature(testAppSecret, body, sum) {
		t.Fatalf("own signature %q does not verify", header)
	}
	if validSignature("other secret", body, sum) || validSignature(testAppSecret, append(body, ' '), sum) {
		t.Fatal("signature verifies with another secret or body")
	}
	for _, bad := range []string{"", "sha256=", "sha1=" + header[7:], header[:len(header)-2], "sha256=" + strings.Repeat("zz", 32)} {
		if _, ok := parseSignature(bad); ok {
			t.Fatalf("parsed %q", bad)
		}
	}
}
