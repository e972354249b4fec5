package pluginhost

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func TestParseChecksum(t *testing.T) {
	good := strings.Repeat("ab", 32)
	sum, err := ParseChecksum("sha256:" + good)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(sum) != good {
		t.Fatalf("ParseChecksum = %x", sum)
	}
	if FormatChecksum(sum) != "sha256:"+good {
		t.Fatalf("FormatChecksum = %s", FormatChecksum(sum))
	}
	if sum, err := ParseChecksum(""); err != nil || sum != nil {
		t.Fatalf("ParseChecksum(\"\") = %x, %v; want nothing", sum, err)
	}
	for _, bad := range []string{
		good,                         // no algorithm
		"md5:" + good,                // wrong algorithm
		"sha256:" + good[:62],        // too short
		"sha256:" + good + "00",      // too long
		"sha256:" + good[:62] + "zz", // not hex
		"sha256:",
	} {
		_, err := ParseChecksum(bad)
		if err == nil {
			t.Errorf("ParseChecksum(%q) succeeded", bad)
			continue
		}
		for _, s := range []string{bad, `"sha256:"`, "64 hex digits"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("ParseChecksum(%q): error %q does not mention %q", bad, err, s)
			}
		}
	}
}

func TestLaunchMalformedChecksum(t *testing.T) {
	cfg := testConfig(t)
	cfg.Checksum = "sha1:1234"
	_, err := LaunchBackend(t.Context(), cfg)
	if err == nil {
		t.Fatal("LaunchBackend with a malformed checksum succeeded")
	}
	for _, s := range []string{`plugin "libvirt"`, "sha1:1234", "64 hex digits"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

func TestChecksumRightDigestStarts(t *testing.T) {
	cfg := testConfig(t)
	sum, err := FileChecksum(pluginPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Checksum = FormatChecksum(sum)
	b := launch(t, cfg)
	if _, err := b.HostInfo(t.Context()); err != nil {
		t.Fatalf("HostInfo: %v", err)
	}
}

func TestChecksumWrongDigestRefused(t *testing.T) {
	cfg := testConfig(t)
	actual, err := FileChecksum(pluginPath)
	if err != nil {
		t.Fatal(err)
	}
	wrong := sha256.Sum256([]byte("some other binary"))
	cfg.Checksum = FormatChecksum(wrong[:])
	b, err := LaunchBackend(t.Context(), cfg)
	if err == nil {
		b.Close()
		t.Fatal("LaunchBackend with a wrong checksum succeeded")
	}
	for _, s := range []string{`plugin "libvirt"`, "mismatch", pluginPath,
		"expected " + FormatChecksum(wrong[:]), "actual " + FormatChecksum(actual)} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
	if left := childPlugins(); len(left) > 0 {
		t.Errorf("a refused plugin runs: %v", left)
	}
}
