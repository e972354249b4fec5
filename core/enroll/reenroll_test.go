package enroll

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"
)

// testCert is a certificate for node and a new key of its own, valid until
// notAfter.
func testCert(t *testing.T, node string, serial int64, notAfter time.Time) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: node},
		NotBefore: notAfter.Add(-48 * time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestReenrollment: a retry of an enrollment, with the same join token and
// a request for the same key, gets the certificate issued again and counts
// no use, even with the token used up; another key, another token, a
// token with the wrong secret, a revoked or expired token, a renewed
// certificate or a removed node get nothing.
func TestReenrollment(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		f := newFixture(t, driver, "")
		tok, text, err := f.svc.Create(ctx, Spec{TTL: time.Hour, Uses: 1})
		if err != nil {
			t.Fatal(err)
		}
		_, other, err := f.svc.Create(ctx, Spec{TTL: time.Hour, Uses: 5})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.svc.Redeem(ctx, text); err != nil {
			t.Fatal(err)
		}
		now := f.clock.Now()
		cert := testCert(t, "n1", 0x1a, now.Add(24*time.Hour))
		if err := f.svc.RecordEnrollment(ctx, "n1", cert, text); err != nil {
			t.Fatal(err)
		}
		if serial, ok, _ := f.svc.ActiveCert(ctx, "n1"); !ok || serial != "1a" {
			t.Fatalf("active certificate %q, %v; want the one enrolled", serial, ok)
		}
		key := cert.RawSubjectPublicKeyInfo
		for i := 0; i < 2; i++ {
			der, ok, err := f.svc.Reenrollment(ctx, "n1", text, key)
			if err != nil || !ok || !bytes.Equal(der, cert.Raw) {
				t.Fatalf("retry %d: ok %v, err %v, same certificate %v", i, ok, err, bytes.Equal(der, cert.Raw))
			}
		}
		if got, _ := f.store.JoinTokens().Get(ctx, tok.ID); got.Used != 1 {
			t.Errorf("token used %d times after the retries, want the enrollment's 1", got.Used)
		}
		if strings.Contains(f.logs.String(), strings.Split(text, ".")[2]) {
			t.Error("the secret was logged")
		}

		refused := func(what, node, text string, key []byte) {
			t.Helper()
			der, ok, err := f.svc.Reenrollment(ctx, node, text, key)
			if err != nil || ok || der != nil {
				t.Errorf("%s: ok %v, err %v, %d bytes; want refused", what, ok, err, len(der))
			}
		}
		refused("another key", "n1", text, testCert(t, "n1", 2, now.Add(time.Hour)).RawSubjectPublicKeyInfo)
		refused("another token", "n1", other, key)
		p, _ := Parse(text)
		p.Secret = strings.Repeat("a", TokenSecretLen)
		wrong, _ := Format(p)
		refused("wrong secret", "n1", wrong, key)
		refused("not a token", "n1", "junk", key)
		refused("another node", "n2", text, key)

		// Past the token's expiry the retry is refused, though the
		// certificate is still valid.
		f.clock.Advance(time.Hour)
		refused("expired token", "n1", text, key)

		// A revoked token: a second enrollment, the token revoked.
		tok2, text2, err := f.svc.Create(ctx, Spec{TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		cert2 := testCert(t, "n2", 0x2b, f.clock.Now().Add(24*time.Hour))
		if err := f.svc.Redeem(ctx, text2); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.RecordEnrollment(ctx, "n2", cert2, text2); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := f.svc.Reenrollment(ctx, "n2", text2, cert2.RawSubjectPublicKeyInfo); !ok {
			t.Fatal("retry before the token is revoked refused")
		}
		if _, err := f.svc.Revoke(ctx, tok2.ID); err != nil {
			t.Fatal(err)
		}
		refused("revoked token", "n2", text2, cert2.RawSubjectPublicKeyInfo)

		// A renewed certificate is not an enrollment's: no retry gets it.
		_, text3, _ := f.svc.Create(ctx, Spec{TTL: time.Hour})
		cert3 := testCert(t, "n3", 0x3c, f.clock.Now().Add(24*time.Hour))
		if err := f.svc.RecordEnrollment(ctx, "n3", cert3, text3); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Second)
		if err := f.svc.RecordCert(ctx, "n3", "3d", f.clock.Now().Add(24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		refused("renewed", "n3", text3, cert3.RawSubjectPublicKeyInfo)

		// A removed node's certificate is not sent again.
		_, text4, _ := f.svc.Create(ctx, Spec{TTL: time.Hour})
		cert4 := testCert(t, "n4", 0x4e, f.clock.Now().Add(24*time.Hour))
		if err := f.svc.RecordEnrollment(ctx, "n4", cert4, text4); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.RevokeNode(ctx, "n4"); err != nil {
			t.Fatal(err)
		}
		refused("removed node", "n4", text4, cert4.RawSubjectPublicKeyInfo)

		wantKind(t, "record without a token", f.svc.RecordEnrollment(ctx, "n5", testCert(t, "n5", 5, f.clock.Now().Add(time.Hour)), "junk"), KindInvalid, "join token")
	})
}

// TestReenrollmentStatic: an enrollment with server.join_token is retried
// with it, not with a token made by the server.
func TestReenrollmentStatic(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		f := newFixture(t, driver, "the-static-join-token")
		_, made, err := f.svc.Create(ctx, Spec{})
		if err != nil {
			t.Fatal(err)
		}
		cert := testCert(t, "n1", 7, f.clock.Now().Add(time.Hour))
		if err := f.svc.RecordEnrollment(ctx, "n1", cert, "the-static-join-token"); err != nil {
			t.Fatal(err)
		}
		if der, ok, err := f.svc.Reenrollment(ctx, "n1", "the-static-join-token", cert.RawSubjectPublicKeyInfo); err != nil || !ok || !bytes.Equal(der, cert.Raw) {
			t.Errorf("retry with the static token: %v, %v", ok, err)
		}
		if _, ok, _ := f.svc.Reenrollment(ctx, "n1", made, cert.RawSubjectPublicKeyInfo); ok {
			t.Error("a token made by the server retried an enrollment with the static token")
		}
		if _, ok, _ := f.svc.Reenrollment(ctx, "n1", "the-static-join-toke", cert.RawSubjectPublicKeyInfo); ok {
			t.Error("a near miss of the static token retried its enrollment")
		}
	})
}
