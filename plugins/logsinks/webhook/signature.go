package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// SignatureHeader carries the signature of a request body when the sink
// has a secret.
const SignatureHeader = "X-Quantix-Signature"

// signaturePrefix names the algorithm in SignatureHeader.
const signaturePrefix = "sha256="

// Sign returns the SignatureHeader value of body: "sha256=" and the hex
// HMAC-SHA256 of body keyed with secret.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return signaturePrefix + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether header, a SignatureHeader value, is the signature
// of body with secret. It compares in constant time; receivers written in
// Go can use it as is.
func Verify(secret, body []byte, header string) bool {
	got, ok := strings.CutPrefix(header, signaturePrefix)
	if !ok {
		return false
	}
	sum, err := hex.DecodeString(got)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal(sum, mac.Sum(nil))
}
