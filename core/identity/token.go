package identity

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
)

// API tokens have the plain form
//
//	qx_<prefix>_<secret>
//
// where prefix is 8 and secret 52 characters of lower-case base32 (RFC 4648
// alphabet a-z, 2-7, no padding), 64 characters in all. The prefix comes
// from 40 random bits of its own: it is not secret, is shown in listings and
// is the key a store looks the token up by (a store must keep prefixes
// unique and make a new token on a clash). The secret carries 256 random
// bits and is never stored: only its SHA-256 is.
//
// A fast hash is right for the secret, unlike for passwords: with 256 random
// bits there is nothing to guess, so a slow hash would only cost the server
// time on every request without making an attacker's search any harder.
const (
	TokenPrefixLen = 8
	TokenSecretLen = 52
	TokenLen       = len(tokenScheme) + TokenPrefixLen + 1 + TokenSecretLen

	tokenScheme      = "qx_"
	tokenPrefixBytes = 5  // 40 bits, exactly 8 base32 characters
	tokenSecretBytes = 32 // 256 bits, 52 base32 characters
)

const tokenAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

var tokenEncoding = base32.NewEncoding(tokenAlphabet).WithPadding(base32.NoPadding)

// NewToken makes a new API token. plain is what the user is shown, once;
// prefix is its visible lookup key and hash is what a store keeps (the
// SHA-256 of the secret part, as TokenHash computes it).
func NewToken() (plain, prefix string, hash []byte, err error) {
	b := make([]byte, tokenPrefixBytes+tokenSecretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", nil, fmt.Errorf("new token: read random bytes: %w", err)
	}
	prefix = tokenEncoding.EncodeToString(b[:tokenPrefixBytes])
	secret := tokenEncoding.EncodeToString(b[tokenPrefixBytes:])
	return tokenScheme + prefix + "_" + secret, prefix, TokenHash(secret), nil
}

// ErrMalformedToken is wrapped by every ParseToken error.
var ErrMalformedToken = errors.New("malformed API token")

// ParseToken splits a plain token into its prefix and secret. Anything but
// exactly the form NewToken makes is an error wrapping ErrMalformedToken; the
// error never repeats the input, which may be a mistyped secret.
func ParseToken(plain string) (prefix, secret string, err error) {
	bad := func(what string) (string, string, error) {
		return "", "", fmt.Errorf("%w: %s (want qx_<8 characters>_<52 characters> of a-z and 2-7)", ErrMalformedToken, what)
	}
	if len(plain) != TokenLen {
		return bad(fmt.Sprintf("%d characters long, want %d", len(plain), TokenLen))
	}
	if plain[:len(tokenScheme)] != tokenScheme {
		return bad("does not start with " + tokenScheme)
	}
	sep := len(tokenScheme) + TokenPrefixLen
	if plain[sep] != '_' {
		return bad(fmt.Sprintf("no _ after the %d-character prefix", TokenPrefixLen))
	}
	prefix, secret = plain[len(tokenScheme):sep], plain[sep+1:]
	if !inTokenAlphabet(prefix) {
		return bad("prefix has a character outside a-z and 2-7")
	}
	if !inTokenAlphabet(secret) {
		return bad("secret has a character outside a-z and 2-7")
	}
	return prefix, secret, nil
}

func inTokenAlphabet(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// TokenHash is the hash a store keeps for a token's secret: its SHA-256.
func TokenHash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// CheckToken reports whether secret is the secret whose hash is hash. The
// comparison takes constant time; a hash of the wrong length never matches.
func CheckToken(secret string, hash []byte) bool {
	if len(hash) != sha256.Size {
		return false
	}
	return subtle.ConstantTimeCompare(TokenHash(secret), hash) == 1
}
