package identity

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

func TestValidatePassword(t *testing.T) {
	cases := []struct {
		name string
		pw   string
		rule string // substring the error must contain; "" means valid
	}{
		{"twelve ascii", "abcdefghijkl", ""},
		{"eleven ascii", "abcdefghijk", "at least 12"},
		{"empty", "", "at least 12"},
		{"twelve multibyte characters", strings.Repeat("é", 12), ""},
		{"eleven multibyte is too short though 22 bytes", strings.Repeat("é", 11), "at least 12"},
		{"max bytes", strings.Repeat("a", MaxPasswordBytes), ""},
		{"over max bytes", strings.Repeat("a", MaxPasswordBytes+1), "at most 1024 bytes"},
		{"invalid utf-8", "abcdefghijkl\xff", "UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := ValidatePassword(c.pw)
			if c.rule == "" {
				if err != nil {
					t.Fatalf("ValidatePassword: %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.rule) {
				t.Fatalf("ValidatePassword error = %v, want one naming %q", err, c.rule)
			}
			if len(c.pw) >= 4 && strings.Contains(err.Error(), c.pw) {
				t.Fatalf("error %q contains the password", err)
			}
		})
	}
}

func TestHashVerifyRoundTrip(t *testing.T) {
	pw := "correct horse battery staple"
	enc, err := HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=65536,t=1,p=2$") {
		t.Fatalf("encoded hash %q lacks the expected PHC prefix and parameters", enc)
	}
	if strings.Contains(enc, pw) {
		t.Fatalf("encoded hash contains the password")
	}
	for _, c := range []struct {
		pw   string
		want bool
	}{
		{pw, true},
		{"correct horse battery stapl", false},
		{"Correct horse battery staple", false},
		{pw + " ", false},
		{"", false},
		{strings.Repeat("a", MaxPasswordBytes+1), false},
	} {
		ok, err := VerifyPassword(enc, c.pw)
		if err != nil {
			t.Fatalf("VerifyPassword(%q): %v", c.pw, err)
		}
		if ok != c.want {
			t.Errorf("VerifyPassword(%.30q) = %v, want %v", c.pw, ok, c.want)
		}
	}

	// Same password, fresh salt: different encodings, both verify.
	enc2, err := HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	if enc2 == enc {
		t.Fatal("two hashes of the same password are equal: salt is not random")
	}
	if ok, err := VerifyPassword(enc2, pw); !ok || err != nil {
		t.Fatalf("VerifyPassword(second hash) = %v, %v", ok, err)
	}
}

func TestHashPasswordRejectsInvalid(t *testing.T) {
	if _, err := HashPassword("short"); err == nil || !strings.Contains(err.Error(), "at least 12") {
		t.Fatalf("HashPassword(short) error = %v, want the length rule", err)
	}
}

// Hashes made with other parameters (smaller memory, two passes, one lane,
// a 24-byte key) verify: VerifyPassword takes them from the encoding, not
// from the constants for new hashes.
func TestVerifyReadsParameters(t *testing.T) {
	p := argonParams{version: 19, memory: 64, time: 2, threads: 1, salt: []byte("saltsaltsalt")}
	p.key = argon2.IDKey([]byte("passwordpassword"), p.salt, p.time, p.memory, p.threads, 24)
	enc := p.encode()
	if enc[:len("$argon2id$v=19$m=64,t=2,p=1$")] != "$argon2id$v=19$m=64,t=2,p=1$" {
		t.Fatalf("encode = %q", enc)
	}
	if ok, err := VerifyPassword(enc, "passwordpassword"); !ok || err != nil {
		t.Fatalf("VerifyPassword = %v, %v; want true, nil", ok, err)
	}
	if ok, err := VerifyPassword(enc, "passwordpassworD"); ok || err != nil {
		t.Fatalf("VerifyPassword(wrong) = %v, %v; want false, nil", ok, err)
	}
	// A hash with one bit of its key flipped no longer matches.
	p.key[0] ^= 1
	if ok, err := VerifyPassword(p.encode(), "passwordpassword"); ok || err != nil {
		t.Fatalf("VerifyPassword(tampered hash) = %v, %v; want false, nil", ok, err)
	}
}

func TestVerifyMalformed(t *testing.T) {
	good := "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$" + strings.Repeat("A", 43)
	if _, err := decodeArgon2id(good); err != nil {
		t.Fatalf("baseline %q: %v", good, err)
	}
	salt := "c2FsdHNhbHRzYWx0"
	key := strings.Repeat("A", 43)
	cases := []struct {
		name, enc, msg string
	}{
		{"empty", "", "5 fields"},
		{"not phc", "plaintext-password", "5 fields"},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key, "only argon2id"},
		{"bcrypt", "$2a$10$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234", "5 fields"},
		{"version 16", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key, "version"},
		{"version missing", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key, "5 fields"},
		{"version leading zero", "$argon2id$v=019$m=64,t=1,p=1$" + salt + "$" + key, "version"},
		{"params order", "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key, "want m="},
		{"params missing", "$argon2id$v=19$m=64,t=1$" + salt + "$" + key, "m=..,t=..,p=.."},
		{"memory zero", "$argon2id$v=19$m=0,t=1,p=1$" + salt + "$" + key, "m="},
		{"memory huge", "$argon2id$v=19$m=4194304,t=1,p=1$" + salt + "$" + key, "m="},
		{"memory overflow", "$argon2id$v=19$m=99999999999999999999,t=1,p=1$" + salt + "$" + key, "m="},
		{"memory below lanes", "$argon2id$v=19$m=8,t=1,p=2$" + salt + "$" + key, "per lane"},
		{"time zero", "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key, "t="},
		{"time huge", "$argon2id$v=19$m=64,t=1000,p=1$" + salt + "$" + key, "t="},
		{"threads zero", "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key, "p="},
		{"threads 256", "$argon2id$v=19$m=4096,t=1,p=256$" + salt + "$" + key, "p="},
		{"signed number", "$argon2id$v=19$m=+64,t=1,p=1$" + salt + "$" + key, "m="},
		{"salt padded", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key, "salt"},
		{"salt url alphabet", "$argon2id$v=19$m=64,t=1,p=1$c2FsdH-hbHRzYWx0$" + key, "salt"},
		{"salt short", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + key, "salt is 4 bytes"},
		{"hash short", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$AAAA", "hash is 3 bytes"},
		{"hash non-canonical", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("A", 42) + "B", "hash is not"},
		{"trailing field", good + "$", "5 fields"},
		{"leading text", "x" + good, "5 fields"},
		{"too long", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("A", 600), "at most 512"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ok, err := VerifyPassword(c.enc, "whatever password")
			if ok {
				t.Fatal("malformed hash matched")
			}
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("error = %v, want one wrapping ErrMalformedHash", err)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %q does not mention %q", err, c.msg)
			}
		})
	}
}

func BenchmarkVerifyPassword(b *testing.B) {
	enc, err := HashPassword("correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := VerifyPassword(enc, "correct horse battery staple"); !ok || err != nil {
			b.Fatalf("VerifyPassword = %v, %v", ok, err)
		}
	}
}
