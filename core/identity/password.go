package identity

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password rules, checked by ValidatePassword.
const (
	// MinPasswordChars is the least number of characters (Unicode code
	// points, not bytes) in a password.
	MinPasswordChars = 12
	// MaxPasswordBytes bounds a password's length in bytes, so that a
	// request cannot make the server hash megabytes.
	MaxPasswordBytes = 1024
)

// Argon2id parameters for new hashes. Quantix servers are often small (two
// cores); these follow the memory-hard profile of RFC 9106 section 4 scaled
// to such a machine:
//   - 64 MiB of memory makes each guess cost an attacker with the hash file
//     that much memory; on the server each login in flight holds 64 MiB, so
//     the login path must bound how many run at once (and throttles
//     failures);
//   - one pass (t=1) keeps a login to a few tens of milliseconds on such a
//     machine (BenchmarkVerifyPassword), since memory, not passes, is what
//     makes argon2id expensive to attack;
//   - two lanes (p=2) use both cores for one login.
//
// VerifyPassword reads the parameters from each encoded hash, so these can
// be raised later without invalidating stored hashes.
const (
	argonMemoryKiB = 64 * 1024
	argonTime      = 1
	argonThreads   = 2
	argonSaltLen   = 16
	argonKeyLen    = 32
)

// Bounds VerifyPassword accepts in an encoded hash, so that a corrupted or
// planted hash cannot make one verification take gigabytes or minutes.
const (
	maxArgonMemoryKiB = 1024 * 1024 // 1 GiB
	maxArgonTime      = 16
	maxArgonThreads   = 16
	minArgonSaltLen   = 8
	maxArgonSaltLen   = 64
	minArgonKeyLen    = 16
	maxArgonKeyLen    = 64
)

const argonPrefix = "$argon2id$v=" // followed by the version

// b64 is the base64 of the PHC string format: standard alphabet, no padding,
// unused trailing bits zero (so every hash has exactly one encoding).
var b64 = base64.RawStdEncoding.Strict()

// ErrMalformedHash is wrapped by every VerifyPassword error about the encoded
// hash itself (as opposed to the password).
var ErrMalformedHash = errors.New("malformed password hash")

// ValidatePassword checks the rules a new password must meet: valid UTF-8,
// at least MinPasswordChars characters, at most MaxPasswordBytes bytes. The
// error names the rule broken and never contains the password.
func ValidatePassword(pw string) error {
	if !utf8.ValidString(pw) {
		return errors.New("password is not valid UTF-8 text")
	}
	if len(pw) > MaxPasswordBytes {
		return fmt.Errorf("password is %d bytes long: it must be at most %d bytes", len(pw), MaxPasswordBytes)
	}
	if n := utf8.RuneCountInString(pw); n < MinPasswordChars {
		return fmt.Errorf("password has %d characters: it must have at least %d", n, MinPasswordChars)
	}
	return nil
}

// HashPassword returns pw hashed with argon2id under a fresh random salt, in
// the PHC string format:
//
//	$argon2id$v=19$m=65536,t=1,p=2$<salt>$<hash>
//
// with salt and hash in unpadded standard base64. pw must pass
// ValidatePassword; otherwise the error is ValidatePassword's.
func HashPassword(pw string) (string, error) {
	if err := ValidatePassword(pw); err != nil {
		return "", err
	}
	p := argonParams{
		version: argon2.Version,
		memory:  argonMemoryKiB,
		time:    argonTime,
		threads: argonThreads,
		salt:    make([]byte, argonSaltLen),
	}
	if _, err := rand.Read(p.salt); err != nil {
		return "", fmt.Errorf("hash password: read random salt: %w", err)
	}
	p.key = argon2.IDKey([]byte(pw), p.salt, p.time, p.memory, p.threads, argonKeyLen)
	return p.encode(), nil
}

// VerifyPassword reports whether pw is the password encoded was made from.
// The comparison of the derived key takes constant time. An encoded hash that
// is not a well-formed argon2id PHC string of version 19 within sane
// parameter bounds is an error wrapping ErrMalformedHash, and never a match.
// A password longer than MaxPasswordBytes never matches (no stored hash can
// have been made from one) and is not hashed.
func VerifyPassword(encoded, pw string) (bool, error) {
	p, err := decodeArgon2id(encoded)
	if err != nil {
		return false, err
	}
	if len(pw) > MaxPasswordBytes {
		return false, nil
	}
	key := argon2.IDKey([]byte(pw), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(key, p.key) == 1, nil
}

type argonParams struct {
	version int
	memory  uint32 // KiB
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

func (p argonParams) encode() string {
	return fmt.Sprintf("%s%d$m=%d,t=%d,p=%d$%s$%s", argonPrefix, p.version,
		p.memory, p.time, p.threads, b64.EncodeToString(p.salt), b64.EncodeToString(p.key))
}

// decodeArgon2id parses an encoded hash strictly: exactly the fields encode
// writes, in its order, decimal numbers without sign or leading zeros, and
// canonical base64. A string it accepts re-encodes to itself.
func decodeArgon2id(s string) (argonParams, error) {
	var p argonParams
	bad := func(format string, args ...any) (argonParams, error) {
		return argonParams{}, fmt.Errorf("%w: %s", ErrMalformedHash, fmt.Sprintf(format, args...))
	}
	if len(s) > 512 {
		return bad("%d bytes long, at most 512 expected", len(s))
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return bad("want 5 fields $argon2id$v=19$m=..,t=..,p=..$salt$hash, have %d", len(parts)-1)
	}
	if parts[1] != "argon2id" {
		return bad("algorithm %q is not supported, only argon2id", parts[1])
	}
	v, ok := strings.CutPrefix(parts[2], "v=")
	if !ok {
		return bad("version field %q does not start with v=", parts[2])
	}
	n, err := parseDecimal(v, argon2.Version)
	if err != nil || n != argon2.Version {
		return bad("version %q is not supported, only %d", v, argon2.Version)
	}
	p.version = argon2.Version
	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return bad("parameters %q are not m=..,t=..,p=..", parts[3])
	}
	fields := []struct {
		name string
		min  uint64
		max  uint64
		out  *uint64
	}{
		{"m", 8, maxArgonMemoryKiB, new(uint64)},
		{"t", 1, maxArgonTime, new(uint64)},
		{"p", 1, maxArgonThreads, new(uint64)},
	}
	for i, f := range fields {
		val, ok := strings.CutPrefix(kv[i], f.name+"=")
		if !ok {
			return bad("parameter %d is %q, want %s=<number>", i+1, kv[i], f.name)
		}
		x, err := parseDecimal(val, f.max)
		if err != nil || x < f.min {
			return bad("parameter %s=%q is not a number from %d to %d", f.name, val, f.min, f.max)
		}
		*f.out = x
	}
	p.memory = uint32(*fields[0].out)
	p.time = uint32(*fields[1].out)
	p.threads = uint8(*fields[2].out)
	if uint64(p.memory) < 8*uint64(p.threads) {
		return bad("memory m=%d is below 8 KiB per lane (p=%d)", p.memory, p.threads)
	}
	if p.salt, err = b64.DecodeString(parts[4]); err != nil {
		return bad("salt is not unpadded standard base64: %v", err)
	}
	if len(p.salt) < minArgonSaltLen || len(p.salt) > maxArgonSaltLen {
		return bad("salt is %d bytes, want %d to %d", len(p.salt), minArgonSaltLen, maxArgonSaltLen)
	}
	if p.key, err = b64.DecodeString(parts[5]); err != nil {
		return bad("hash is not unpadded standard base64: %v", err)
	}
	if len(p.key) < minArgonKeyLen || len(p.key) > maxArgonKeyLen {
		return bad("hash is %d bytes, want %d to %d", len(p.key), minArgonKeyLen, maxArgonKeyLen)
	}
	return p, nil
}

// parseDecimal parses s as a decimal number from 0 to max, with no sign and
// no leading zeros.
func parseDecimal(s string, max uint64) (uint64, error) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, errors.New("not a canonical decimal number")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("not a canonical decimal number")
		}
	}
	x, err := strconv.ParseUint(s, 10, 64)
	if err != nil || x > max {
		return 0, errors.New("number out of range")
	}
	return x, nil
}
