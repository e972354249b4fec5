package auth

import (
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/quantixvm/quantix/core/identity"
)

// The fuzz targets check the parsers of what a client sends never panic,
// accept only the exact forms, and never repeat the input in an error.
// Seeds under testdata/fuzz run as regression cases with go test.

// FuzzParseBearer: an accepted header holds exactly "Bearer" (any case),
// spaces and a well-formed token; a refused one is KindUnauthenticated
// and its message does not hold the header's token part.
func FuzzParseBearer(f *testing.F) {
	for _, s := range []string{"Bearer " + sampleToken, "bearer  " + sampleToken, "Basic dXNlcjpwYXNz", "Bearer", "", "Bearer " + sampleToken + " x"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, v string, twice bool) {
		values := []string{v}
		if twice {
			values = append(values, v)
		}
		prefix, secret, present, err := parseBearer(values)
		if !present {
			t.Fatalf("parseBearer(%q): not present", values)
		}
		if err != nil {
			if KindOf(err) != KindUnauthenticated {
				t.Fatalf("parseBearer(%q): kind %d", v, KindOf(err))
			}
			rest := strings.TrimLeft(v[min(len(v), len("Bearer ")):], " ")
			if len(rest) >= 8 && strings.Contains(err.Error(), rest) {
				t.Fatalf("the error %q repeats the header %q", err, v)
			}
			return
		}
		if twice || len(v) > maxAuthorizationLen {
			t.Fatalf("parseBearer(%q, twice=%v) accepted", v, twice)
		}
		token := "qx_" + prefix + "_" + secret
		if p, s, err := identity.ParseToken(token); err != nil || p != prefix || s != secret {
			t.Fatalf("accepted %q as a token ParseToken refuses", v)
		}
		scheme, rest, _ := strings.Cut(v, " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimLeft(rest, " ") != token {
			t.Fatalf("accepted %q, which is not Bearer <token>", v)
		}
	})
}

// FuzzParseSessionCookie: an accepted value is exactly one cookie of the
// session's name with a well-formed secret; errors never repeat it.
func FuzzParseSessionCookie(f *testing.F) {
	v := strings.Repeat("Ab-_", 10) + "xyQ"
	for _, s := range []string{CookieName + "=" + v, "a=b; " + CookieName + "=" + v, CookieName + "=" + v + ";" + CookieName + "=" + v, CookieName + "=\"x\"", ";;;=", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		got, present, err := parseSessionCookie([]string{h})
		if err != nil {
			if KindOf(err) != KindUnauthenticated || !present {
				t.Fatalf("parseSessionCookie(%q): kind %d, present %v", h, KindOf(err), present)
			}
			if len(h) >= 16 && strings.Contains(err.Error(), h) {
				t.Fatalf("the error %q repeats the header", err)
			}
			return
		}
		if !present {
			for part := range strings.SplitSeq(h, ";") {
				if name, _, ok := strings.Cut(part, "="); ok && strings.TrimSpace(name) == CookieName {
					t.Fatalf("parseSessionCookie(%q) missed the cookie", h)
				}
			}
			return
		}
		if !validSecret(got) || !strings.Contains(h, got) {
			t.Fatalf("parseSessionCookie(%q) = %q", h, got)
		}
	})
}

// FuzzCheckCSRF: only the session's own token passes.
func FuzzCheckCSRF(f *testing.F) {
	const want = "k3Jv0yTqW8xZp1Lm5NcB7dFgH2sR4tU6vA9eIoY_-Qw"
	hash := sha256.Sum256([]byte(want))
	for _, s := range []string{want, "", strings.ToUpper(want), want + "=", want[:42]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		err := checkCSRF([]string{v}, hash[:])
		if (err == nil) != (v == want) {
			t.Fatalf("checkCSRF(%q) = %v", v, err)
		}
		if err != nil {
			if KindOf(err) != KindForbidden || !strings.Contains(err.Error(), HeaderCSRF) {
				t.Fatalf("checkCSRF(%q): %v (kind %d)", v, err, KindOf(err))
			}
			if len(v) >= 8 && strings.Contains(err.Error(), v) {
				t.Fatalf("the error %q repeats the header", err)
			}
		}
	})
}
