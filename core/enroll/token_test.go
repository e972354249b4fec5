package enroll

import (
	"errors"
	"strings"
	"testing"
)

var testFP = strings.Repeat("ab", 32)

// TestFormatParse: Format and Parse are inverse on every token newParts
// makes; Format refuses parts outside their form, naming the part.
func TestFormatParse(t *testing.T) {
	for range 50 {
		p, err := newParts(testFP)
		if err != nil {
			t.Fatal(err)
		}
		text, err := Format(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(text) != TokenLen || !strings.HasPrefix(text, "qxjoin.") {
			t.Fatalf("Format = %q", text)
		}
		got, err := Parse(text)
		if err != nil {
			t.Fatalf("Parse(Format(%+v)): %v", p, err)
		}
		if got != p {
			t.Fatalf("Parse(Format(%+v)) = %+v", p, got)
		}
	}
	good, _ := newParts(testFP)
	for _, c := range []struct {
		name string
		p    Parts
		want string
	}{
		{"short id", Parts{ID: "abc", Secret: good.Secret, CAFingerprint: testFP}, "the id"},
		{"upper-case id", Parts{ID: "ABCDEFGH", Secret: good.Secret, CAFingerprint: testFP}, "the id"},
		{"bad secret", Parts{ID: good.ID, Secret: strings.Repeat("1", TokenSecretLen), CAFingerprint: testFP}, "the secret"},
		{"short fingerprint", Parts{ID: good.ID, Secret: good.Secret, CAFingerprint: "abcd"}, "the CA fingerprint"},
		{"upper-case fingerprint", Parts{ID: good.ID, Secret: good.Secret, CAFingerprint: strings.ToUpper(testFP)}, "the CA fingerprint"},
	} {
		_, err := Format(c.p)
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Format = %v, want an error about %s", c.name, err, c.want)
		}
	}
}

// TestParseRefuses: every near miss of the form is refused with an error
// that says what is wrong and never repeats the input.
func TestParseRefuses(t *testing.T) {
	p, _ := newParts(testFP)
	text, _ := Format(p)
	for _, c := range []struct {
		name, in, want string
	}{
		{"empty", "", "0 characters long"},
		{"trailing newline", text + "\n", "characters long"},
		{"leading space", " " + text[1:], "does not start with qxjoin."},
		{"scheme upper case", "QXJOIN" + text[6:], "does not start with qxjoin."},
		{"API token", "qx_" + text[3:], "does not start with qxjoin."},
		{"dash for a dot", text[:15] + "-" + text[16:], "separated by dots"},
		{"id upper case", "qxjoin." + strings.ToUpper(p.ID) + text[15:], "the id"},
		{"secret with a 1", text[:16] + "1" + text[17:], "the secret"},
		{"fingerprint upper case", text[:TokenLen-1] + "A", "the CA fingerprint"},
		{"fingerprint colon", text[:TokenLen-1] + ":", "the CA fingerprint"},
		{"huge", strings.Repeat("q", 1<<20), "characters long"},
	} {
		_, err := Parse(c.in)
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Parse = %v, want an error about %q", c.name, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), p.Secret[:10]) {
			t.Errorf("%s: the error repeats the secret: %v", c.name, err)
		}
	}
}

// FuzzParse: Parse never panics; what it accepts rebuilds the input
// through Format, and its parts keep their forms. The seeds run as
// regression cases on every go test.
func FuzzParse(f *testing.F) {
	p, err := newParts(testFP)
	if err != nil {
		f.Fatal(err)
	}
	text, _ := Format(p)
	for _, s := range []string{
		text,
		"",
		"qxjoin.",
		"qxjoin...",
		"qxjoin." + strings.Repeat(".", TokenLen-7),
		"qxjoin.abcdefgh." + strings.Repeat("a", TokenSecretLen) + "." + strings.Repeat("0", FingerprintLen),
		"qxjoin.abcdefgh." + strings.Repeat("a", TokenSecretLen) + "." + strings.Repeat("g", FingerprintLen),
		"qxjoin.abcdefgh." + strings.Repeat("a", TokenSecretLen+1) + strings.Repeat("0", FingerprintLen),
		"qxjoin.abcdefgh." + strings.Repeat("a", TokenSecretLen-2) + "é." + strings.Repeat("0", FingerprintLen),
		"qx_abcdefgh_" + strings.Repeat("a", 52),
		text + "\n",
		strings.ToUpper(text),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := Parse(in)
		if err != nil {
			if got != (Parts{}) {
				t.Fatalf("Parse(%q) returned %+v with error %v", in, got, err)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q): %v does not wrap ErrMalformed", in, err)
			}
			return
		}
		out, err := Format(got)
		if err != nil {
			t.Fatalf("Parse(%q) accepted parts Format refuses: %v", in, err)
		}
		if out != in {
			t.Fatalf("Parse(%q) = %+v, which formats as %q", in, got, out)
		}
	})
}
