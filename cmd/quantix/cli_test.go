package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/client"
)

// runIn runs the CLI in this process with env as its environment.
func runIn(env map[string]string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	a := &app{stdout: &out, stderr: &errOut, getenv: func(k string) string { return env[k] }}
	code = a.run(args)
	return code, out.String(), errOut.String()
}

// TestUsage: what the command line gets wrong is exit code 2 and says
// what; -h is exit code 0 with the help on stdout.
func TestUsage(t *testing.T) {
	cases := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{nil, 2, "", "usage: quantix"},
		{[]string{"-h"}, 0, "exit codes", ""},
		{[]string{"help"}, 0, "commands:", ""},
		{[]string{"help", "vm", "stop"}, 0, "usage: quantix vm stop NAME [flags]", ""},
		{[]string{"help", "nope"}, 2, "", `no command "nope"`},
		{[]string{"nope"}, 2, "", `unknown command "nope"`},
		{[]string{"vm"}, 2, "", "usage: quantix vm <command>"},
		{[]string{"vm", "-h"}, 0, "reset-state", ""},
		{[]string{"vm", "bogus"}, 2, "", `quantix vm: unknown command "bogus"`},
		{[]string{"vm", "show"}, 2, "", "quantix vm show: missing NAME"},
		{[]string{"vm", "show", "a", "b"}, 2, "", `unexpected argument "b"`},
		{[]string{"vm", "list", "-bogus"}, 2, "", "flag provided but not defined: -bogus"},
		{[]string{"vm", "stop", "a", "-timeout", "soon"}, 2, "", `invalid value "soon" for flag -timeout`},
		{[]string{"vm", "create", "a", "-disk", "big"}, 2, "", `"big" is not a size in GiB`},
		{[]string{"vm", "create", "a", "-nic", "tap:x"}, 2, "", `"tap:x" is not NETWORK`},
		{[]string{"vm", "create", "a", "-label", "novalue"}, 2, "", `"novalue" is not key=value`},
		{[]string{"vm", "list", "-label", "x"}, 2, "", `-label "x": want key=value`},
		{[]string{"vm", "logs", "a", "-n", "0"}, 2, "", "-n 0: must be between 1 and 10000"},
		{[]string{"-output", "yaml", "vm", "list"}, 2, "", `-output "yaml": must be table or json`},
		{[]string{"vm", "list", "-output", "xml"}, 2, "", `-output "xml"`},
		{[]string{"-address", "ftp://x", "vm", "list"}, 2, "", "the scheme must be http or https"},
		{[]string{"logs", "export", "-format", "xml"}, 2, "", `-format "xml": must be json, csv or txt`},
		{[]string{"logs", "query", "-order", "up"}, 2, "", `-order "up"`},
		{[]string{"logs", "query", "-user-action", "maybe"}, 2, "", `-user-action "maybe"`},
		{[]string{"logs", "tail", "-n", "5000"}, 2, "", "-n 5000"},
		{[]string{"config", "validate"}, 2, "", "missing FILE"},
		{[]string{"completion", "fish"}, 2, "", `no completion for shell "fish"`},
		{[]string{"completion"}, 2, "", "missing SHELL"},
		{[]string{"version", "-client"}, 0, "quantix ", ""},
		{[]string{"-version"}, 0, "quantix ", ""},
	}
	for _, c := range cases {
		code, stdout, stderr := runIn(nil, c.args...)
		if code != c.code || !strings.Contains(stdout, c.stdout) || !strings.Contains(stderr, c.stderr) {
			t.Errorf("quantix %q = %d\nstdout: %s\nstderr: %s\nwant %d, stdout containing %q, stderr containing %q",
				c.args, code, stdout, stderr, c.code, c.stdout, c.stderr)
		}
	}
}

// TestHelpOfEveryCommand: every command answers -h with exit 0 and a help
// text naming it, its arguments and each of its flags.
func TestHelpOfEveryCommand(t *testing.T) {
	var walk func(path string, cmds []*command)
	walk = func(path string, cmds []*command) {
		for _, c := range cmds {
			p := strings.TrimSpace(path + " " + c.name)
			args := append(strings.Fields(p), "-h")
			code, stdout, stderr := runIn(nil, args...)
			if code != 0 || stderr != "" || !strings.Contains(stdout, "usage: quantix "+p) {
				t.Errorf("quantix %s -h = %d\nstdout: %s\nstderr: %s", p, code, stdout, stderr)
			}
			if c.summary == "" {
				t.Errorf("quantix %s has no summary", p)
			}
			if c.setup == nil {
				walk(p, c.subs)
				continue
			}
			if c.help == "" {
				t.Errorf("quantix %s has no help", p)
			}
			if c.args != "" && !strings.Contains(stdout, c.args) {
				t.Errorf("quantix %s -h does not name its arguments %q", p, c.args)
			}
			commandFlags(p, c).VisitAll(func(f *flag.Flag) {
				if !strings.Contains(stdout, "-"+f.Name) {
					t.Errorf("quantix %s -h does not show -%s", p, f.Name)
				}
			})
		}
	}
	walk("", commands())
}

func TestParseInterspersed(t *testing.T) {
	cases := []struct {
		args []string
		pos  []string
		n    int
		f    bool
	}{
		{[]string{"a"}, []string{"a"}, 0, false},
		{[]string{"-n", "3", "a"}, []string{"a"}, 3, false},
		{[]string{"a", "-n", "3", "-f"}, []string{"a"}, 3, true},
		{[]string{"a", "-f", "b", "-n", "2"}, []string{"a", "b"}, 2, true},
		{[]string{"-f", "--", "-n", "a"}, []string{"-n", "a"}, 0, true},
		{nil, nil, 0, false},
	}
	for _, c := range cases {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		n := fs.Int("n", 0, "")
		f := fs.Bool("f", false, "")
		pos, err := parseInterspersed(fs, c.args)
		if err != nil || !reflect.DeepEqual(pos, c.pos) || *n != c.n || *f != c.f {
			t.Errorf("%q: %q n=%d f=%v %v; want %q n=%d f=%v", c.args, pos, *n, *f, err, c.pos, c.n, c.f)
		}
	}
}

func TestAgo(t *testing.T) {
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	now = func() time.Time { return base }
	defer func() { now = time.Now }()
	cases := []struct {
		t    time.Time
		want string
	}{
		{base.Add(-300 * time.Millisecond), "just now"},
		{base.Add(-42 * time.Second), "42s ago"},
		{base.Add(-3*time.Minute - 10*time.Second), "3m ago"},
		{base.Add(-5 * time.Hour), "5h ago"},
		{base.Add(-47 * time.Hour), "47h ago"},
		{base.Add(-12 * 24 * time.Hour), "12d ago"},
		{base.Add(3 * time.Minute), "in 3m"},
		{time.Time{}, "never"},
		{time.Date(2024, 5, 6, 12, 0, 0, 0, time.Local), "2024-05-06"},
	}
	for _, c := range cases {
		if got := ago(c.t); got != c.want {
			t.Errorf("ago(%s) = %q, want %q", c.t, got, c.want)
		}
	}
}

func TestSizes(t *testing.T) {
	for n, want := range map[uint64]string{64: "64 MiB", 1024: "1 GiB", 1536: "1.5 GiB", 7130: "7.0 GiB", 1 << 20: "1 TiB"} {
		if got := mib(n); got != want {
			t.Errorf("mib(%d) = %q, want %q", n, got, want)
		}
	}
	for n, want := range map[int64]string{12: "12 B", 2048: "2.0 KiB", 3 << 20: "3.0 MiB"} {
		if got := bytesSize(n); got != want {
			t.Errorf("bytesSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestTableCells(t *testing.T) {
	var b bytes.Buffer
	tb := newTable(&b, "A", "B")
	tb.row("x\ty", "")
	tb.row("long value", "two\nlines")
	if err := tb.flush(); err != nil {
		t.Fatal(err)
	}
	want := "A           B\nx y         -\nlong value  two lines\n"
	if b.String() != want {
		t.Errorf("table:\n%q\nwant\n%q", b.String(), want)
	}
}

// fakeAPI answers like the API, with a field the client does not know.
func fakeAPI(t *testing.T, seen *http.Header) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen != nil {
			*seen = r.Header.Clone()
		}
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/vms/web-1":
			_, _ = io.WriteString(w, `{"id":"6809e7d9-0000-0000-0000-000000000001","name":"web-1","state":"RUNNING","node_id":"n1","spec":{"vcpus":2,"memory_mib":1024,"disks":[],"nics":[],"boot":[]},"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","extra":{"new":true}}`)
		case "/api/nodes":
			_, _ = io.WriteString(w, `{"nodes":[{"id":"n1","name":"host-a","state":"READY"}]}`)
		case "/api/vms/web-1/stop":
			w.WriteHeader(http.StatusConflict)
			_, _ = io.WriteString(w, `{"success":false,"code":"conflict","message":"vm \"web-1\": cannot stop vm in state STOPPED","vm":{"id":"1","name":"web-1","state":"STOPPED"}}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"code":"not_found","message":"vm \"nope\" not found"}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestOutputAgainstFakeAPI: -output json prints the API's object as it came;
// tables name nodes; the token goes as a bearer token, from the flag or the
// environment; API errors are exit code 1 with the API's message.
func TestOutputAgainstFakeAPI(t *testing.T) {
	var hdr http.Header
	srv := fakeAPI(t, &hdr)
	env := map[string]string{envAddress: srv.URL, envToken: "from-env"}

	code, stdout, stderr := runIn(env, "vm", "show", "web-1", "-output", "json")
	if code != 0 || stderr != "" {
		t.Fatalf("vm show -output json = %d: %s", code, stderr)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil || got["extra"] == nil || got["name"] != "web-1" {
		t.Errorf("json output is not the API's object: %v\n%s", err, stdout)
	}
	if hdr.Get("Authorization") != "Bearer from-env" {
		t.Errorf("Authorization %q, want the token of %s", hdr.Get("Authorization"), envToken)
	}

	code, stdout, _ = runIn(env, "-token", "from-flag", "vm", "show", "web-1")
	if code != 0 || !strings.Contains(stdout, "Node:            host-a") || !strings.Contains(stdout, "Memory:          1 GiB") {
		t.Errorf("vm show = %d:\n%s", code, stdout)
	}
	if hdr.Get("Authorization") != "Bearer from-flag" {
		t.Errorf("Authorization %q, want the token of -token", hdr.Get("Authorization"))
	}

	code, _, stderr = runIn(env, "vm", "stop", "web-1")
	if code != 1 || stderr != "quantix: vm \"web-1\": cannot stop vm in state STOPPED\n" {
		t.Errorf("refused stop = %d: %q", code, stderr)
	}
	code, _, stderr = runIn(env, "vm", "start", "nope")
	if code != 1 || stderr != "quantix: vm \"nope\" not found\n" {
		t.Errorf("unknown vm = %d: %q", code, stderr)
	}
	code, _, stderr = runIn(map[string]string{envAddress: "127.0.0.1:1"}, "vm", "list")
	if code != 1 || !strings.Contains(stderr, "cannot reach the quantix API at http://127.0.0.1:1") {
		t.Errorf("unreachable = %d: %q", code, stderr)
	}
}

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.hcl")
	bad := filepath.Join(dir, "bad.hcl")
	broken := filepath.Join(dir, "broken.hcl")
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(good, "log_level = \"debug\"\nserver {\n  http_addr = \"127.0.0.1:9090\"\n}\n")
	write(bad, "log_level = \"loud\"\nserver {\n  http_addr = \"nowhere\"\n}\n")
	write(broken, "server {\n  http_addr = \n")
	cases := []struct {
		args   []string
		code   int
		stdout string
		stderr []string
	}{
		{[]string{good}, 0, good + ": valid", nil},
		{[]string{bad}, 1, "", []string{bad + ":1,13: log_level is \"loud\"", bad + ":3,15: server.http_addr is \"nowhere\""}},
		{[]string{broken}, 1, "", []string{broken + ":2,"}},
		{[]string{filepath.Join(dir, "missing.hcl")}, 1, "", []string{"missing.hcl: no such file or directory"}},
	}
	for _, c := range cases {
		code, stdout, stderr := runIn(nil, append([]string{"config", "validate"}, c.args...)...)
		ok := code == c.code && strings.Contains(stdout, c.stdout)
		for _, s := range c.stderr {
			ok = ok && strings.Contains(stderr, s)
		}
		if !ok {
			t.Errorf("config validate %v = %d\nstdout: %s\nstderr: %s", c.args, code, stdout, stderr)
		}
	}
	t.Setenv("QUANTIX_LOG_LEVEL", "loud")
	if code, _, stderr := runIn(nil, "config", "validate", "-env", good); code != 1 || !strings.Contains(stderr, "log_level is \"loud\"") {
		t.Errorf("config validate -env with QUANTIX_LOG_LEVEL=loud = %d: %s", code, stderr)
	}
	if code, _, stderr := runIn(nil, "config", "validate", good); code != 0 {
		t.Errorf("config validate without -env looks at the environment: %d %s", code, stderr)
	}
}

// TestCompletionSpec: a flag name means the same kind of flag in every
// command, so the scripts can skip flag values without knowing the command.
func TestCompletionSpec(t *testing.T) {
	s := completionSpec()
	for _, v := range s.valueFlags {
		for _, b := range s.boolFlags {
			if v == b {
				t.Errorf("%s is a boolean flag in one command and takes a value in another", v)
			}
		}
	}
	for name := range flagValues {
		found := false
		for _, v := range s.valueFlags {
			found = found || v == "-"+name
		}
		if !found {
			t.Errorf("completion knows values of -%s, which no command takes", name)
		}
	}
}

// completeBash runs the bash completion of words (the last is the word
// being completed) and returns the candidates.
func completeBash(t *testing.T, script string, words ...string) []string {
	t.Helper()
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = "'" + w + "'"
	}
	prog := script + "\nCOMP_WORDS=(" + strings.Join(quoted, " ") + ")\nCOMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))\n_quantix\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
	out, err := exec.Command("bash", "-c", prog).CombinedOutput()
	if err != nil {
		t.Fatalf("bash completion of %q: %v\n%s", words, err, out)
	}
	return strings.Fields(string(out))
}

func TestBashCompletion(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatalf("bash is needed to test its completion: %v", err)
	}
	code, script, stderr := runIn(nil, "completion", "bash")
	if code != 0 {
		t.Fatalf("completion bash = %d: %s", code, stderr)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "conf.hcl"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		words []string
		want  []string
	}{
		{[]string{"quantix", ""}, []string{"vm", "node", "cluster", "logs", "login", "logout", "user", "token", "config", "version", "completion", "help"}},
		{[]string{"quantix", "vm", "re"}, []string{"reboot", "resume", "reset-state"}},
		{[]string{"quantix", "-output", "json", "vm", "st"}, []string{"start", "stop"}},
		{[]string{"quantix", "-output", ""}, []string{"table", "json"}},
		{[]string{"quantix", "vm", "stop", "-"}, []string{"-force", "-timeout", "-address", "-token", "-ca-cert", "-output", "-h"}},
		{[]string{"quantix", "logs", "export", "-format", ""}, []string{"json", "csv", "txt"}},
		{[]string{"quantix", "logs", "query", "-level", "w"}, []string{"warn"}},
		{[]string{"quantix", "completion", ""}, []string{"bash", "zsh"}},
		{[]string{"quantix", "config", "validate", filepath.Join(dir, "co")}, []string{filepath.Join(dir, "conf.hcl")}},
		{[]string{"quantix", "vm", "stop", "-timeout", "3s", "a", ""}, nil},
	}
	for _, c := range cases {
		if got := completeBash(t, script, c.words...); !reflect.DeepEqual(got, c.want) && !(len(got) == 0 && len(c.want) == 0) {
			t.Errorf("completing %q: %q, want %q", c.words, got, c.want)
		}
	}
}

func TestZshCompletion(t *testing.T) {
	zsh, err := exec.LookPath("zsh")
	if err != nil {
		t.Fatalf("zsh is not installed (%v), so its completion script cannot be checked: run `make deps` (scripts/setup-host.sh installs it)", err)
	}
	code, script, _ := runIn(nil, "completion", "zsh")
	if code != 0 || !strings.HasPrefix(script, "#compdef quantix\n") {
		t.Fatalf("completion zsh = %d:\n%s", code, script)
	}
	path := filepath.Join(t.TempDir(), "_quantix")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(zsh, "-n", path).CombinedOutput(); err != nil {
		t.Fatalf("zsh -n: %v\n%s", err, out)
	}
	// compadd, _files and compdef exist only inside zsh's completion
	// system: stand-ins record what the script offers.
	prog := `compdef() { :; }
compadd() { [[ "$1" == "--" ]] && shift; reply+=("$@"); }
_files() { reply+=("<files>"); }
source ` + path + `
t() { words=("$@"); CURRENT=${#words}; reply=(); _quantix; print -r -- "${reply[*]}"; }
t quantix ""
t quantix vm ""
t quantix -output ""
t quantix logs tail -
t quantix config validate ""
t quantix vm show a ""
`
	out, err := exec.Command(zsh, "-f", "-c", prog).CombinedOutput()
	if err != nil {
		t.Fatalf("zsh: %v\n%s", err, out)
	}
	want := []string{
		"vm node cluster logs login logout user token config version completion help",
		"list show create edit start stop reboot pause resume delete reset-state adopt logs events console",
		"table json",
		"-component -correlation-id -f -level -n -node -search -session-id -since -source -until -user-action -vm -address -token -ca-cert -output -h",
		"<files>",
		"",
	}
	if got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("zsh completion:\n%q\nwant\n%q", got, want)
	}
}

// TestTailSkipper: following after a tail skips the stream's entries the
// tail showed (offsets up to its size, in a row) and nothing after.
func TestTailSkipper(t *testing.T) {
	entry := func(fields string) *client.LogEntry { return &client.LogEntry{Fields: json.RawMessage(fields)} }
	cases := []struct {
		name   string
		fields []string
		want   []bool
	}{
		{"lines of the tail, then new ones", []string{`{"offset":10}`, `{"offset":20}`, `{"offset":30}`, `{"offset":40}`, `{"offset":20}`}, []bool{true, true, true, false, false}},
		{"only new lines", []string{`{"offset":31}`, `{"offset":5}`}, []bool{false, false}},
		{"the log rotated", []string{`{"offset":25}`, `{"offset":4,"generation":1}`, `{"offset":8}`}, []bool{true, false, false}},
		{"no offset", []string{`{}`, `{"offset":1}`}, []bool{false, false}},
	}
	for _, c := range cases {
		skip := tailSkipper(30)
		for i, f := range c.fields {
			if got := skip(entry(f)); got != c.want[i] {
				t.Errorf("%s: entry %d (%s) skipped %v, want %v", c.name, i, f, got, c.want[i])
			}
		}
	}
}
