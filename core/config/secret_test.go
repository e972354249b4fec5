package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestClusterSecret: the secret comes from the file, the environment or a
// secret file; a short one, both keys at once or an unreadable file are
// refused naming the key (and saying how to make one), never quoting the
// secret; surrounding white space is not part of it.
func TestClusterSecret(t *testing.T) {
	good := "0123456789abcdefghijklmnopqrstuvwxyzABCD" // 40 characters
	short := "tooshort-but-secret"

	c, err := Parse("q.hcl", []byte("server {\n  cluster_secret = \""+good+"\"\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("a 40-character secret: %v", err)
	}
	if s, err := c.ClusterSecret(); err != nil || s != good {
		t.Errorf("ClusterSecret() = %q, %v; want the configured one", s, err)
	}

	c, err = Load("", []string{"QUANTIX_SERVER_CLUSTER_SECRET=" + good})
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := c.ClusterSecret(); s != good {
		t.Errorf("QUANTIX_SERVER_CLUSTER_SECRET gave %q", s)
	}

	c, err = Parse("q.hcl", []byte("server {\n  cluster_secret = \""+short+"\"\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	if err == nil {
		t.Fatal("a 19-character secret was accepted")
	}
	for _, want := range []string{"q.hcl:2,", "server.cluster_secret", "at least 32", "openssl rand -base64 32"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("short secret error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), short) {
		t.Errorf("the error quotes the secret: %q", err)
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	if err := os.WriteFile(file, []byte(good+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c = Default()
	if err := c.Set("server.cluster_secret_file", file); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("secret file: %v", err)
	}
	if s, err := c.ClusterSecret(); err != nil || s != good {
		t.Errorf("ClusterSecret() from a file = %q, %v; want it without its newline", s, err)
	}

	if err := c.Set("server.cluster_secret", good); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "server.cluster_secret and server.cluster_secret_file are both set") {
		t.Errorf("both keys: %v", err)
	}

	c = Default()
	if err := c.Set("server.cluster_secret_file", filepath.Join(dir, "missing")); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "server.cluster_secret_file") || !strings.Contains(err.Error(), "missing") {
		t.Errorf("a missing secret file: %v", err)
	}

	shortFile := filepath.Join(dir, "short")
	if err := os.WriteFile(shortFile, []byte(short), 0o600); err != nil {
		t.Fatal(err)
	}
	c = Default()
	if err := c.Set("server.cluster_secret_file", shortFile); err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	if err == nil || !strings.Contains(err.Error(), "server.cluster_secret_file") || !strings.Contains(err.Error(), "at least 32") || strings.Contains(err.Error(), short) {
		t.Errorf("a short secret file: %v", err)
	}

	// No secret at all is the single-server default.
	c = Default()
	if s, err := c.ClusterSecret(); err != nil || s != "" {
		t.Errorf("default ClusterSecret() = %q, %v", s, err)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
