package auth

import (
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/quantixvm/quantix/core/identity"
)

const sampleToken = "qx_abcdefgh_abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst"

func TestParseBearer(t *testing.T) {
	if len(sampleToken) != identity.TokenLen {
		t.Fatalf("sample token is %d characters", len(sampleToken))
	}
	for _, ok := range [][]string{
		{"Bearer " + sampleToken},
		{"bearer " + sampleToken},
		{"BEARER   " + sampleToken},
	} {
		prefix, secret, present, err := parseBearer(ok)
		if err != nil || !present || prefix != "abcdefgh" || "qx_"+prefix+"_"+secret != sampleToken {
			t.Errorf("parseBearer(%q) = %q, %q, %v, %v", ok, prefix, secret, present, err)
		}
	}
	if _, _, present, err := parseBearer(nil); present || err != nil {
		t.Errorf("no header: %v, %v", present, err)
	}
	for _, c := range []struct {
		values []string
		says   string
	}{
		{[]string{"Bearer " + sampleToken, "Bearer " + sampleToken}, "2 headers"},
		{[]string{""}, "empty"},
		{[]string{"Bearer"}, "no token after Bearer"},
		{[]string{"Bearer "}, "no token after Bearer"},
		{[]string{"Bearer    "}, "no token after Bearer"},
		{[]string{"Basic " + sampleToken}, "the scheme is not Bearer"},
		{[]string{"Bearer\t" + sampleToken}, "the scheme is not Bearer"},
		{[]string{sampleToken}, "the scheme is not Bearer"},
		{[]string{"Bearer " + sampleToken + " " + sampleToken}, "more than one token"},
		{[]string{"Bearer " + sampleToken + "\t"}, "more than one token"},
		{[]string{"Bearer " + strings.Repeat("a", 300)}, "at most 256"},
		{[]string{"Bearer " + strings.ToUpper(sampleToken)}, "malformed API token"},
		{[]string{"Bearer " + sampleToken[:len(sampleToken)-1]}, "malformed API token"},
	} {
		_, _, present, err := parseBearer(c.values)
		ae := wantErr(t, "parseBearer", err, KindUnauthenticated, "", c.says)
		if !present {
			t.Errorf("parseBearer(%q): not present", c.values)
		}
		if !strings.Contains(ae.Message, "Bearer <token>") && !strings.Contains(ae.Message, "qx_<8 characters>") {
			t.Errorf("%q: message %q does not name the expected form", c.values, ae.Message)
		}
		for _, v := range c.values {
			if len(v) > 8 && strings.Contains(ae.Message, strings.TrimPrefix(v, "Bearer ")) {
				t.Errorf("the error repeats the header: %q", ae.Message)
			}
		}
	}
}

func TestParseSessionCookie(t *testing.T) {
	v := strings.Repeat("Ab-_", 10) + "xyQ"
	if !validSecret(v) {
		t.Fatal("sample cookie is not valid")
	}
	for _, h := range [][]string{
		{CookieName + "=" + v},
		{"theme=dark; " + CookieName + "=" + v + "; lang=en"},
		{"theme=dark", CookieName + "=" + v},
		{"  " + CookieName + " = " + v + " ;"},
	} {
		got, present, err := parseSessionCookie(h)
		if err != nil || !present || got != v {
			t.Errorf("parseSessionCookie(%q) = %q, %v, %v", h, got, present, err)
		}
	}
	for _, h := range [][]string{nil, {""}, {"theme=dark"}, {"quantix_session_x=1"}, {"xquantix_session=" + v}} {
		if _, present, err := parseSessionCookie(h); present || err != nil {
			t.Errorf("parseSessionCookie(%q) = %v, %v; want none", h, present, err)
		}
	}
	for _, c := range []struct {
		h    []string
		says string
	}{
		{[]string{CookieName + "=" + v + "; " + CookieName + "=" + v}, "2 quantix_session cookies"},
		{[]string{CookieName + "=" + v, CookieName + "=" + v}, "2 quantix_session cookies"},
		{[]string{CookieName + "="}, "malformed quantix_session cookie"},
		{[]string{CookieName + "=\"" + v + "\""}, "malformed"},
		{[]string{CookieName + "=" + v + "A"}, "malformed"},
		{[]string{CookieName + "=" + strings.Repeat("+", 43)}, "malformed"},
		// The right length and alphabet, but with non-zero padding bits.
		{[]string{CookieName + "=" + strings.Repeat("A", 42) + "B"}, "malformed"},
	} {
		_, present, err := parseSessionCookie(c.h)
		ae := wantErr(t, "parseSessionCookie", err, KindUnauthenticated, "", c.says)
		if !present {
			t.Errorf("%q: not present", c.h)
		}
		if strings.Contains(ae.Message, v) {
			t.Errorf("the error repeats the cookie: %q", ae.Message)
		}
	}
}

func TestCheckCSRF(t *testing.T) {
	csrf, hash, err := newSecret()
	if err != nil {
		t.Fatal(err)
	}
	if err := checkCSRF([]string{csrf}, hash); err != nil {
		t.Fatalf("the right token: %v", err)
	}
	other, _, _ := newSecret()
	for _, c := range []struct {
		values []string
		want   []byte
		says   string
	}{
		{nil, hash, "missing X-CSRF-Token header"},
		{[]string{csrf, csrf}, hash, "2 X-CSRF-Token headers"},
		{[]string{""}, hash, "malformed"},
		{[]string{csrf + "x"}, hash, "malformed"},
		{[]string{other}, hash, "wrong X-CSRF-Token header"},
		{[]string{csrf}, nil, "wrong"},
		{[]string{csrf}, hash[:16], "wrong"},
	} {
		ae := wantErr(t, "checkCSRF", checkCSRF(c.values, c.want), KindForbidden, "", c.says)
		if strings.Contains(ae.Message, csrf) || strings.Contains(ae.Message, other) {
			t.Errorf("the error repeats a token: %q", ae.Message)
		}
	}
	h := sha256.Sum256([]byte(csrf))
	if string(h[:]) != string(hash) {
		t.Error("newSecret's hash is not the SHA-256 of the value")
	}
}
