package syslog_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/plugins/logsinks/syslog"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// rsyslogConf is the test's own rsyslogd configuration: loopback udp and tcp
// inputs on free ports and a unix datagram socket in the test's directory,
// all bound to one ruleset that parses the structured data (mmpstrucdata)
// and writes every message as a JSON object per line. The daemon's own
// messages go to the default ruleset, which writes nothing. Messages are
// kept as received: control characters are not escaped and a trailing line
// feed is not dropped.
const rsyslogConf = `global(workDirectory="{{dir}}" maxMessageSize="256k" parser.escapeControlCharactersOnReceive="off" parser.dropTrailingLFOnReception="off")
module(load="imudp")
module(load="imtcp")
module(load="imuxsock" SysSock.Use="off")
module(load="mmpstrucdata")
template(name="quantixtest" type="list") {
  constant(value="{\"pri\":") property(name="pri")
  constant(value=",\"time\":\"") property(name="timereported" dateFormat="rfc3339" format="json")
  constant(value="\",\"host\":\"") property(name="hostname" format="json")
  constant(value="\",\"app\":\"") property(name="app-name" format="json")
  constant(value="\",\"procid\":\"") property(name="procid" format="json")
  constant(value="\",\"msgid\":\"") property(name="msgid" format="json")
  constant(value="\",\"sd\":\"") property(name="$!rfc5424-sd" format="json")
  constant(value="\",\"msg\":\"") property(name="msg" format="json")
  constant(value="\",\"input\":\"") property(name="inputname" format="json")
  constant(value="\"}\n")
}
ruleset(name="quantixtest") {
  action(type="mmpstrucdata")
  action(type="omfile" file="{{out}}" template="quantixtest")
}
input(type="imudp" address="127.0.0.1" port="{{udp}}" rcvbufSize="16m" ruleset="quantixtest")
input(type="imtcp" address="127.0.0.1" port="{{tcp}}" ruleset="quantixtest")
input(type="imuxsock" socket="{{sock}}" useSpecialParser="off" parseHostname="on" ignoreTimestamp="off" rateLimit.interval="0" ruleset="quantixtest")
`

// rsyslogd is a syslog daemon of the test's own, started and stopped by
// the test.
type rsyslogd struct {
	bin, dir, conf, out, pidfile string
	udp, tcp                     string // 127.0.0.1:port
	sock                         string

	cmd  *exec.Cmd
	done chan struct{}
	logs bytes.Buffer

	mu      sync.Mutex
	offset  int64
	partial []byte
	records []record
}

// record is one message as rsyslogd received and parsed it.
type record struct {
	Pri    int    `json:"pri"`
	Time   string `json:"time"`
	Host   string `json:"host"`
	App    string `json:"app"`
	ProcID string `json:"procid"`
	MsgID  string `json:"msgid"`
	// SD is the structured data as mmpstrucdata parsed it, JSON text.
	SD    string `json:"sd"`
	Msg   string `json:"msg"`
	Input string `json:"input"`
}

// rsyslogdPath finds rsyslogd, installed by `make deps` (scripts/setup-host.sh).
func rsyslogdPath(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("rsyslogd"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/rsyslogd", "/sbin/rsyslogd"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	t.Fatal("rsyslogd not found in PATH, /usr/sbin or /sbin: the syslog sink is tested against a real rsyslog; run make deps")
	return ""
}

// freePort returns a loopback port nothing listens on for network.
func freePort(t testing.TB, network string) string {
	t.Helper()
	var addr string
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = c.LocalAddr().String()
		_ = c.Close()
	} else {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = l.Addr().String()
		_ = l.Close()
	}
	_, port, _ := net.SplitHostPort(addr)
	return port
}

// startRsyslogd writes the configuration, starts the daemon and waits until
// each input delivers a probe. It is stopped when t ends.
func startRsyslogd(t testing.TB) *rsyslogd {
	t.Helper()
	// A short directory: unix socket paths are limited to 107 bytes.
	dir, err := os.MkdirTemp("", "qx-rsyslog-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	r := &rsyslogd{
		bin:     rsyslogdPath(t),
		dir:     dir,
		conf:    filepath.Join(dir, "rsyslog.conf"),
		out:     filepath.Join(dir, "received.jsonl"),
		pidfile: filepath.Join(dir, "rsyslogd.pid"),
		sock:    filepath.Join(dir, "log.sock"),
	}
	udpPort, tcpPort := freePort(t, "udp"), freePort(t, "tcp")
	r.udp, r.tcp = "127.0.0.1:"+udpPort, "127.0.0.1:"+tcpPort
	conf := strings.NewReplacer("{{dir}}", dir, "{{out}}", r.out, "{{udp}}", udpPort, "{{tcp}}", tcpPort, "{{sock}}", r.sock).Replace(rsyslogConf)
	if err := os.WriteFile(r.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(r.bin, "-N1", "-f", r.conf).CombinedOutput(); err != nil {
		t.Fatalf("rsyslogd rejects the test configuration (%v); run make deps:\n%s", err, out)
	}
	r.start(t)
	t.Cleanup(func() { r.stop(t) })
	return r
}

// start runs the daemon in the foreground and waits until it delivers.
func (r *rsyslogd) start(t testing.TB) {
	t.Helper()
	r.logs.Reset()
	r.cmd = exec.Command(r.bin, "-n", "-f", r.conf, "-i", r.pidfile)
	r.cmd.Stdout, r.cmd.Stderr = &r.logs, &r.logs
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("starting rsyslogd: %v", err)
	}
	r.done = make(chan struct{})
	go func() {
		_ = r.cmd.Wait()
		close(r.done)
	}()
	r.waitReady(t)
}

// stop ends the daemon: SIGTERM, then SIGKILL after 5 s.
func (r *rsyslogd) stop(t testing.TB) {
	t.Helper()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
	r.cmd = nil
	_ = os.Remove(r.pidfile)
}

// waitReady sends a probe through every input until each shows up in the
// output, for at most 15 s.
func (r *rsyslogd) waitReady(t testing.TB) {
	t.Helper()
	probe := func(network, addr, id string) {
		msg := fmt.Sprintf(`<134>1 %s probe quantix-test - probe [%s id="%s"] probe`, time.Now().UTC().Format("2006-01-02T15:04:05.000000Z07:00"), syslog.SDID, id)
		c, err := net.DialTimeout(network, addr, time.Second)
		if err != nil {
			return
		}
		defer c.Close()
		if network == "tcp" {
			msg = fmt.Sprintf("%d %s", len(msg), msg)
		}
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = io.WriteString(c, msg)
	}
	inputs := map[string][2]string{"udp": {"udp", r.udp}, "tcp": {"tcp", r.tcp}, "unix": {"unixgram", r.sock}}
	pending := map[string]string{}
	for name := range inputs {
		pending[name] = fmt.Sprintf("probe-%s-%d", name, time.Now().UnixNano())
	}
	wait.UntilNil(t, 15*time.Second, "rsyslogd to deliver a probe through every input", func() error {
		select {
		case <-r.done:
			t.Fatalf("rsyslogd exited while starting:\n%s", r.logs.String())
		default:
		}
		got := byID(r.entries(t))
		for name, id := range pending {
			if len(got[id]) > 0 {
				delete(pending, name)
			}
		}
		if len(pending) == 0 {
			return nil
		}
		// A probe sent before the input listened is lost: send again.
		for name, id := range pending {
			probe(inputs[name][0], inputs[name][1], id)
		}
		return fmt.Errorf("no probe through %v yet:\n%s", slices.Sorted(maps.Keys(pending)), r.logs.String())
	})
}

// read returns every record written so far, reading only what was added
// since the last call.
func (r *rsyslogd) read(t testing.TB) []record {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	f, err := os.Open(r.out)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(r.offset, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	r.offset += int64(len(data))
	data = append(r.partial, data...)
	last := bytes.LastIndexByte(data, '\n')
	r.partial = append([]byte(nil), data[last+1:]...)
	sc := bufio.NewScanner(bytes.NewReader(data[:last+1]))
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var rec record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("rsyslogd wrote a line that is not a record (%v): %s", err, sc.Text())
		}
		r.records = append(r.records, rec)
	}
	return append([]record(nil), r.records...)
}

// entries returns the entries rsyslogd received, rebuilt from what it
// parsed: level from the severity, source from the MSGID, the rest from the
// structured data, the message without its byte order mark.
func (r *rsyslogd) entries(t testing.TB) []logsink.Entry {
	t.Helper()
	recs := r.read(t)
	out := make([]logsink.Entry, 0, len(recs))
	for _, rec := range recs {
		e, err := rec.entry()
		if err != nil {
			t.Fatalf("record %+v: %v", rec, err)
		}
		out = append(out, e)
	}
	return out
}

// levels maps severities back to levels.
var levels = map[int]logsink.Level{7: logsink.LevelDebug, 6: logsink.LevelInfo, 4: logsink.LevelWarn, 3: logsink.LevelError}

// params returns the parameters of the quantix element.
func (rec record) params() (map[string]string, error) {
	if rec.SD == "" {
		return nil, errors.New("no structured data")
	}
	var sd map[string]map[string]string
	if err := json.Unmarshal([]byte(rec.SD), &sd); err != nil {
		return nil, fmt.Errorf("structured data %q: %w", rec.SD, err)
	}
	p, ok := sd[syslog.SDID]
	if !ok {
		return nil, fmt.Errorf("no %s element in %q", syslog.SDID, rec.SD)
	}
	return p, nil
}

func (rec record) entry() (logsink.Entry, error) {
	p, err := rec.params()
	if err != nil {
		return logsink.Entry{}, err
	}
	ts, err := time.Parse(time.RFC3339Nano, rec.Time)
	if err != nil {
		return logsink.Entry{}, err
	}
	level, ok := levels[rec.Pri%8]
	if !ok {
		level = logsink.Level(fmt.Sprintf("severity %d", rec.Pri%8))
	}
	e := logsink.Entry{
		ID:            p["id"],
		Timestamp:     ts,
		Level:         level,
		Source:        logsink.Source(rec.MsgID),
		Component:     logsink.Component(p["component"]),
		Message:       strings.TrimPrefix(rec.Msg, "\uFEFF"),
		VMID:          p["vm_id"],
		NodeID:        p["node_id"],
		UserID:        p["user_id"],
		SessionID:     p["session_id"],
		CorrelationID: p["correlation_id"],
		Action:        p["action"],
		Target:        p["target"],
		UserAction:    p["user_action"] == "true",
	}
	if f := p["fields"]; f != "" {
		e.Fields = json.RawMessage(f)
	}
	return e, nil
}

// recordsByID indexes records by entry id.
func recordsByID(t testing.TB, recs []record) map[string]record {
	t.Helper()
	m := make(map[string]record, len(recs))
	for _, rec := range recs {
		p, err := rec.params()
		if err != nil {
			t.Fatalf("record %+v: %v", rec, err)
		}
		m[p["id"]] = rec
	}
	return m
}

func byID(entries []logsink.Entry) map[string][]logsink.Entry {
	m := make(map[string][]logsink.Entry, len(entries))
	for _, e := range entries {
		m[e.ID] = append(m[e.ID], e)
	}
	return m
}
