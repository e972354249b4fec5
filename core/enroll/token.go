// Package enroll decides which agents may join the cluster and keeps what
// they were given: join tokens (created by an admin, stored hashed, with an
// expiry, a number of uses and revocation) and the client certificates
// issued to nodes (recorded by serial, revocable per node). The agent
// server redeems a token before it signs a new agent's CSR, records the
// certificate it signed (for an enrollment, with what lets a retry whose
// reply was lost get it again), and asks whether a presented certificate
// is revoked; the API creates, lists and revokes tokens; removing a node
// revokes its certificates.
package enroll

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
)

// A join token's text is
//
//	qxjoin.<id>.<secret>.<ca-sha256>
//
// id is 8 and secret 52 characters of lower-case base32 (a-z, 2-7, no
// padding: 40 and 256 random bits); ca-sha256 is the SHA-256 fingerprint of
// the agent cluster CA as 64 lower-case hex digits (pki.Fingerprint), which
// a new agent pins the server's certificate to on first contact. The id is
// not secret: it names the token in listings, logs and audit entries. Only
// the SHA-256 of the secret is stored. The text is exactly TokenLen bytes.
const (
	TokenIDLen          = 8
	TokenSecretLen      = 52
	FingerprintLen      = 64
	TokenLen            = len(tokenScheme) + TokenIDLen + 1 + TokenSecretLen + 1 + FingerprintLen
	tokenScheme         = "qxjoin."
	tokenIDBytes        = 5
	tokenSecretBytes    = 32
	tokenAlphabet       = "abcdefghijklmnopqrstuvwxyz234567"
	tokenFormatExpected = "qxjoin.<8 characters>.<52 characters>.<64 hex digits>"
)

var tokenEncoding = base32.NewEncoding(tokenAlphabet).WithPadding(base32.NoPadding)

// ErrMalformed is wrapped by every Parse and Format error.
var ErrMalformed = errors.New("malformed join token")

// Parts are the fields of a join token's text.
type Parts struct {
	// ID names the token (TokenIDLen characters of a-z, 2-7).
	ID string
	// Secret proves the holder was given the token (TokenSecretLen
	// characters of a-z, 2-7).
	Secret string
	// CAFingerprint is the SHA-256 of the agent cluster CA certificate,
	// 64 lower-case hex digits.
	CAFingerprint string
}

// newParts makes a token with a random id and secret pinning caFingerprint.
func newParts(caFingerprint string) (Parts, error) {
	b := make([]byte, tokenIDBytes+tokenSecretBytes)
	if _, err := rand.Read(b); err != nil {
		return Parts{}, fmt.Errorf("new join token: reading random bytes: %w", err)
	}
	return Parts{
		ID:            tokenEncoding.EncodeToString(b[:tokenIDBytes]),
		Secret:        tokenEncoding.EncodeToString(b[tokenIDBytes:]),
		CAFingerprint: caFingerprint,
	}, nil
}

// Format returns the text of p. A part outside its form is an error
// wrapping ErrMalformed that names the part (never its value).
func Format(p Parts) (string, error) {
	if err := checkID(p.ID); err != nil {
		return "", err
	}
	if len(p.Secret) != TokenSecretLen || !inAlphabet(p.Secret) {
		return "", fmt.Errorf("%w: the secret must be %d characters of a-z and 2-7", ErrMalformed, TokenSecretLen)
	}
	if err := checkFingerprint(p.CAFingerprint); err != nil {
		return "", err
	}
	return tokenScheme + p.ID + "." + p.Secret + "." + p.CAFingerprint, nil
}

// Parse splits a join token's text into its parts. Anything but exactly
// the form Format makes (no surrounding space, lower case only) is an error
// wrapping ErrMalformed; the error says what is wrong without repeating
// the input, which holds a secret. Parse looks at no more than TokenLen
// bytes of the input.
func Parse(text string) (Parts, error) {
	bad := func(what string) (Parts, error) {
		return Parts{}, fmt.Errorf("%w: %s (want %s)", ErrMalformed, what, tokenFormatExpected)
	}
	if len(text) != TokenLen {
		return bad(fmt.Sprintf("%d characters long, want %d", len(text), TokenLen))
	}
	if text[:len(tokenScheme)] != tokenScheme {
		return bad("it does not start with " + tokenScheme)
	}
	rest := text[len(tokenScheme):]
	sep1, sep2 := TokenIDLen, TokenIDLen+1+TokenSecretLen
	if rest[sep1] != '.' || rest[sep2] != '.' {
		return bad("its parts are not separated by dots where expected")
	}
	p := Parts{ID: rest[:sep1], Secret: rest[sep1+1 : sep2], CAFingerprint: rest[sep2+1:]}
	if !inAlphabet(p.ID) {
		return bad("the id has a character outside a-z and 2-7")
	}
	if !inAlphabet(p.Secret) {
		return bad("the secret has a character outside a-z and 2-7")
	}
	if !isLowerHex(p.CAFingerprint) {
		return bad("the CA fingerprint has a character outside 0-9 and a-f")
	}
	return p, nil
}

// checkID reports whether id has the form of a token id.
func checkID(id string) error {
	if len(id) != TokenIDLen || !inAlphabet(id) {
		return fmt.Errorf("%w: the id must be %d characters of a-z and 2-7", ErrMalformed, TokenIDLen)
	}
	return nil
}

// checkFingerprint reports whether fp has the form of a CA fingerprint.
func checkFingerprint(fp string) error {
	if len(fp) != FingerprintLen || !isLowerHex(fp) {
		return fmt.Errorf("%w: the CA fingerprint must be %d lower-case hex digits (pki.Fingerprint)", ErrMalformed, FingerprintLen)
	}
	return nil
}

func inAlphabet(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
