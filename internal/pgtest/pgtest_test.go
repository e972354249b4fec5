package pgtest

import "testing"

func TestDSNs(t *testing.T) {
	cases := []struct{ in, key, val, set, redacted string }{
		{"host=h user=u password=secret dbname=postgres", "dbname", "run1",
			"host=h user=u password=secret dbname=postgres dbname=run1", "host=h user=u password=xxx dbname=postgres"},
		{"postgres://u:secret@h:5432/postgres?sslmode=disable", "dbname", "run1",
			"postgres://u:secret@h:5432/run1?sslmode=disable", "postgres://u:xxx@h:5432/postgres?sslmode=disable"},
		{"postgres://u:secret@h/db", "search_path", "s1",
			"postgres://u:secret@h/db?search_path=s1", "postgres://u:xxx@h/db"},
	}
	for _, c := range cases {
		if got := WithParam(c.in, c.key, c.val); got != c.set {
			t.Errorf("WithParam(%q, %s=%s) = %q, want %q", c.in, c.key, c.val, got, c.set)
		}
		if got := Redact(c.in); got != c.redacted {
			t.Errorf("Redact(%q) = %q, want %q", c.in, got, c.redacted)
		}
	}
	t.Setenv(EnvDSN, "host=elsewhere")
	if AdminDSN() != "host=elsewhere" {
		t.Errorf("AdminDSN ignores %s", EnvDSN)
	}
}
