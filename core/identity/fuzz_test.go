package identity

import (
	"strings"
	"testing"
)

// FuzzParseToken: ParseToken never panics, and what it accepts is exactly
// qx_<prefix>_<secret> rebuilt from its results, within the alphabet.
func FuzzParseToken(f *testing.F) {
	plain, _, _, err := NewToken()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		plain,
		"",
		"qx_",
		"qx__",
		"qx_abcdefgh_" + strings.Repeat("a", TokenSecretLen),
		"qx_abcdefgh_" + strings.Repeat("a", TokenSecretLen-1) + "1",
		"qx_abcdefgh-" + strings.Repeat("7", TokenSecretLen),
		"QX_ABCDEFGH_" + strings.Repeat("A", TokenSecretLen),
		"qx_abcdefgh_" + strings.Repeat("a", TokenSecretLen-2) + "é",
		"Bearer " + plain,
		plain + "\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		prefix, secret, err := ParseToken(in)
		if err != nil {
			if prefix != "" || secret != "" {
				t.Fatalf("ParseToken(%q) returned %q, %q with error %v", in, prefix, secret, err)
			}
			return
		}
		if "qx_"+prefix+"_"+secret != in {
			t.Fatalf("ParseToken(%q) = %q, %q: does not rebuild the input", in, prefix, secret)
		}
		if len(prefix) != TokenPrefixLen || len(secret) != TokenSecretLen || !inTokenAlphabet(prefix+secret) {
			t.Fatalf("ParseToken(%q) accepted %q, %q", in, prefix, secret)
		}
		if CheckToken(secret, TokenHash(secret+"x")) {
			t.Fatal("CheckToken matched another secret's hash")
		}
	})
}

// FuzzDecodeArgon2id: the decoder VerifyPassword uses never panics, what it
// accepts re-encodes to the same string (one encoding per hash), and its
// parameters stay within the bounds that keep one verification cheap.
func FuzzDecodeArgon2id(f *testing.F) {
	enc, err := HashPassword("correct horse battery staple")
	if err != nil {
		f.Fatal(err)
	}
	salt, key := "c2FsdHNhbHRzYWx0", strings.Repeat("A", 43)
	for _, s := range []string{
		enc,
		"",
		"$",
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=1048576,t=16,p=16$" + salt + "$" + key,
		"$argon2id$v=19$m=1048577,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key,
		"$argon2id$v=019$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=1,k=2$" + salt + "$" + key,
		"$argon2id$v=19$m=18446744073709551616,t=1,p=1$" + salt + "$" + key,
		"$2a$10$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, err := decodeArgon2id(in)
		if err != nil {
			return
		}
		if got := p.encode(); got != in {
			t.Fatalf("decode(%q) re-encodes as %q", in, got)
		}
		if p.memory > maxArgonMemoryKiB || p.time < 1 || p.time > maxArgonTime ||
			p.threads < 1 || p.threads > maxArgonThreads || uint64(p.memory) < 8*uint64(p.threads) ||
			len(p.salt) < minArgonSaltLen || len(p.salt) > maxArgonSaltLen ||
			len(p.key) < minArgonKeyLen || len(p.key) > maxArgonKeyLen {
			t.Fatalf("decode(%q) accepted out-of-bounds parameters %+v", in, p)
		}
	})
}
