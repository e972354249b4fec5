package identity

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestTokenRoundTrip(t *testing.T) {
	plain, prefix, hash, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if len(plain) != TokenLen || len(prefix) != TokenPrefixLen || len(hash) != 32 {
		t.Fatalf("NewToken = %q (%d), prefix %q, hash %d bytes", plain, len(plain), prefix, len(hash))
	}
	if !strings.HasPrefix(plain, "qx_"+prefix+"_") {
		t.Fatalf("plain %q does not start with qx_%s_", plain, prefix)
	}
	p, secret, err := ParseToken(plain)
	if err != nil {
		t.Fatalf("ParseToken(NewToken()): %v", err)
	}
	if p != prefix || len(secret) != TokenSecretLen {
		t.Fatalf("ParseToken = %q, %q; want prefix %q and a %d-character secret", p, secret, prefix, TokenSecretLen)
	}
	if !CheckToken(secret, hash) {
		t.Fatal("CheckToken(secret, hash) = false")
	}
	if bytes.Contains(hash, []byte(secret)) || strings.Contains(string(hash), prefix) {
		t.Fatal("hash holds the secret or the prefix in clear")
	}

	// A secret one character off, a hash one bit off, and hashes of the wrong
	// length do not match.
	other := []byte(secret)
	other[0] = map[bool]byte{true: 'b', false: 'a'}[other[0] == 'a']
	if CheckToken(string(other), hash) {
		t.Error("CheckToken matched a different secret")
	}
	flipped := bytes.Clone(hash)
	flipped[31] ^= 1
	if CheckToken(secret, flipped) {
		t.Error("CheckToken matched a different hash")
	}
	for _, h := range [][]byte{nil, {}, hash[:31], append(bytes.Clone(hash), 0)} {
		if CheckToken(secret, h) {
			t.Errorf("CheckToken matched a %d-byte hash", len(h))
		}
	}
	// The prefix is no part of what is checked.
	if CheckToken(prefix, hash) || CheckToken(plain, hash) {
		t.Error("CheckToken matched the prefix or the whole plain token")
	}
}

func TestTokensUnique(t *testing.T) {
	const n = 5000
	prefixes := make(map[string]bool, n)
	secrets := make(map[string]bool, n)
	for range n {
		plain, prefix, _, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		_, secret, err := ParseToken(plain)
		if err != nil {
			t.Fatalf("ParseToken(NewToken()): %v", err)
		}
		// 40 random bits: a repeat among 5000 has probability about 1e-5.
		if prefixes[prefix] {
			t.Fatalf("prefix %q made twice in %d tokens", prefix, n)
		}
		if secrets[secret] {
			t.Fatalf("secret made twice in %d tokens", n)
		}
		prefixes[prefix], secrets[secret] = true, true
	}
}

func TestParseTokenMalformed(t *testing.T) {
	secret := (tokenAlphabet + tokenAlphabet)[:TokenSecretLen]
	good := "qx_abcdefgh_" + secret
	if _, _, err := ParseToken(good); err != nil {
		t.Fatalf("baseline: %v", err)
	}
	cases := []struct{ name, in, msg string }{
		{"empty", "", "0 characters"},
		{"one short", good[:len(good)-1], "63 characters"},
		{"one long", good + "a", "65 characters"},
		{"huge", strings.Repeat("a", 1<<20), "characters long"},
		{"wrong scheme", "qy_abcdefgh_" + secret, "start with qx_"},
		{"upper scheme", "QX_abcdefgh_" + secret, "start with qx_"},
		{"no separator", "qx_abcdefghx" + secret, "no _"},
		{"short prefix", "qx_abcdefg__" + secret, "prefix"},
		{"upper prefix", "qx_ABCDEFGH_" + secret, "prefix"},
		{"digit 1 in prefix", "qx_abcdefg1_" + secret, "prefix"},
		{"digit 8 in secret", "qx_abcdefgh_" + secret[1:] + "8", "secret"},
		{"padding", "qx_abcdefgh_" + secret[1:] + "=", "secret"},
		{"base64url", "qx_abcdefgh_" + secret[1:] + "-", "secret"},
		{"space", "qx_abcdefgh_" + secret[1:] + " ", "secret"},
		{"multibyte", "qx_abcdefgh_" + secret[2:] + "é", "secret"},
		{"bearer included", "Bearer " + good[7:], "start with qx_"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, s, err := ParseToken(c.in)
			if err == nil {
				t.Fatalf("ParseToken accepted %q as %q, %q", c.in, p, s)
			}
			if !errors.Is(err, ErrMalformedToken) {
				t.Fatalf("error %v does not wrap ErrMalformedToken", err)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %q does not mention %q", err, c.msg)
			}
			if strings.Contains(err.Error(), secret[4:20]) {
				t.Fatalf("error %q repeats the secret", err)
			}
		})
	}
}
