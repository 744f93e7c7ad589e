package auth

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func testKey(t *testing.T) SigningKey {
	t.Helper()
	k, err := GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestAccessTokens(t *testing.T) {
	t.Parallel()
	key := testKey(t)
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	tokens := NewAccessTokens(key, "https://wagate.example", "wagate", 15*time.Minute, clock)

	// forge signs arbitrary claims and headers with the real key, to show
	// that each check holds on its own and not only the signature.
	forge := func(t *testing.T, c jwt.MapClaims, typ string) string {
		t.Helper()
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
		tok.Header["kid"] = key.ID()
		if typ != "" {
			tok.Header["typ"] = typ
		}
		s, err := tok.SignedString(key.private)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	valid := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": "https://wagate.example", "aud": "wagate", "sub": "user-1",
			"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
	}

	t.Run("IssuedTokenVerifies", func(t *testing.T) {
		t.Parallel()
		s, exp, err := tokens.Issue("user-1")
		if err != nil {
			t.Fatal(err)
		}
		if !exp.Equal(now.Add(15 * time.Minute)) {
			t.Fatalf("expiry %v", exp)
		}
		sub, err := tokens.Verify(s)
		if err != nil || sub != "user-1" {
			t.Fatalf("Verify = %q, %v", sub, err)
		}
		parsed, _, err := jwt.NewParser().ParseUnverified(s, jwt.MapClaims{})
		if err != nil {
			t.Fatal(err)
		}
		if parsed.Header["alg"] != "EdDSA" || parsed.Header["kid"] != key.ID() || parsed.Header["typ"] != "at+jwt" {
			t.Fatalf("header = %v", parsed.Header)
		}
	})

	t.Run("ExpiredTokenIsToldApart", func(t *testing.T) {
		t.Parallel()
		c := valid()
		c["exp"] = now.Add(-time.Minute).Unix()
		if _, err := tokens.Verify(forge(t, c, tokenType)); !errors.Is(err, ErrAccessTokenExpired) {
			t.Fatalf("expired: %v", err)
		}
	})

	for name, mutate := range map[string]func(jwt.MapClaims){
		"WrongIssuer":       func(c jwt.MapClaims) { c["iss"] = "https://evil.example" },
		"WrongAudience":     func(c jwt.MapClaims) { c["aud"] = "another-api" },
		"NoExpiry":          func(c jwt.MapClaims) { delete(c, "exp") },
		"IssuedInTheFuture": func(c jwt.MapClaims) { c["iat"] = now.Add(time.Hour).Unix() },
		"NotYetValid":       func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() },
		"NoSubject":         func(c jwt.MapClaims) { delete(c, "sub") },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := valid()
			mutate(c)
			if _, err := tokens.Verify(forge(t, c, tokenType)); !errors.Is(err, ErrInvalidAccessToken) {
				t.Fatalf("accepted or misclassified: %v", err)
			}
		})
	}

	t.Run("OtherTokenTypeIsRejected", func(t *testing.T) {
		t.Parallel()
		for _, typ := range []string{"", "JWT"} {
			if _, err := tokens.Verify(forge(t, valid(), typ)); !errors.Is(err, ErrInvalidAccessToken) {
				t.Fatalf("typ %q: %v", typ, err)
			}
		}
	})

	t.Run("PinnedAlgorithm", func(t *testing.T) {
		t.Parallel()
		header := func(alg string) string {
			return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"` + alg + `","typ":"at+jwt","kid":"` + key.ID() + `"}`))
		}
		payload := strings.Split(forge(t, valid(), tokenType), ".")[1]
		none := header("none") + "." + payload + "."
		hs := jwt.NewWithClaims(jwt.SigningMethodHS256, valid())
		hs.Header["kid"], hs.Header["typ"] = key.ID(), tokenType
		hmacWithPublicKey, err := hs.SignedString([]byte(key.Public()))
		if err != nil {
			t.Fatal(err)
		}
		for name, s := range map[string]string{"none": none, "HS256": hmacWithPublicKey} {
			if _, err := tokens.Verify(s); !errors.Is(err, ErrInvalidAccessToken) {
				t.Fatalf("%s accepted: %v", name, err)
			}
		}
	})

	t.Run("OtherKeyIsRejected", func(t *testing.T) {
		t.Parallel()
		other := NewAccessTokens(testKey(t), "https://wagate.example", "wagate", 15*time.Minute, clock)
		s, _, err := other.Issue("user-1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tokens.Verify(s); !errors.Is(err, ErrInvalidAccessToken) {
			t.Fatalf("token of another key: %v", err)
		}
	})
}

func TestSigningKeys(t *testing.T) {
	t.Parallel()

	t.Run("ParseAcceptsCommonEncodings", func(t *testing.T) {
		t.Parallel()
		seed := make([]byte, ed25519.SeedSize)
		for i := range seed {
			seed[i] = byte(i * 7)
		}
		want, err := NewSigningKey(seed)
		if err != nil {
			t.Fatal(err)
		}
		for _, enc := range []string{
			base64.StdEncoding.EncodeToString(seed),
			base64.RawURLEncoding.EncodeToString(seed),
			base64.StdEncoding.EncodeToString(ed25519.NewKeyFromSeed(seed)),
			" " + base64.StdEncoding.EncodeToString(seed) + "\n",
		} {
			k, err := ParseSigningKey(enc)
			if err != nil || k.ID() != want.ID() {
				t.Errorf("ParseSigningKey(%q) = %s, %v; want %s", enc, k.ID(), err, want.ID())
			}
		}
		for _, bad := range []string{"", "not base64 !", base64.StdEncoding.EncodeToString([]byte("short"))} {
			if _, err := ParseSigningKey(bad); err == nil {
				t.Errorf("ParseSigningKey(%q) accepted", bad)
			}
		}
	})

	t.Run("KeyIDIsTheRFC7638Thumbprint", func(t *testing.T) {
		t.Parallel()
		// RFC 8037 appendix A.3: the thumbprint of its example Ed25519 key.
		x, err := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
		if err != nil {
			t.Fatal(err)
		}
		if got := thumbprint(ed25519.PublicKey(x)); got != "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" {
			t.Fatalf("thumbprint = %s", got)
		}
	})

	t.Run("JWKPublishesThePublicHalfOnly", func(t *testing.T) {
		t.Parallel()
		k := testKey(t)
		j := k.JWK()
		x, err := base64.RawURLEncoding.DecodeString(j.X)
		if err != nil || !ed25519.PublicKey(x).Equal(k.Public()) || j.KeyID != k.ID() || j.Algorithm != "EdDSA" {
			t.Fatalf("jwk = %+v", j)
		}
	})
}
