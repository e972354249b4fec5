package scaletest_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// cpuBySide sums the CPU time of a CPU profile (the gzipped profile.proto
// runtime/pprof writes) by the value of the sample label key; samples
// without it count under "".
func cpuBySide(profile []byte, key string) (map[string]time.Duration, error) {
	zr, err := gzip.NewReader(bytes.NewReader(profile))
	if err != nil {
		return nil, fmt.Errorf("reading the cpu profile: %w", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("reading the cpu profile: %w", err)
	}
	// profile.proto: Profile{1 sample_type: ValueType, 2 sample: Sample,
	// 6 string_table: string}; ValueType{1 type, 2 unit}; Sample{2 value:
	// packed int64, 3 label: Label}; Label{1 key, 2 str} (string indexes).
	type label struct{ key, str int64 }
	type sample struct {
		values []int64
		labels []label
	}
	var (
		types   [][2]int64
		samples []sample
		strs    []string
	)
	err = eachField(raw, func(num protowire.Number, typ protowire.Type, b []byte, _ uint64) error {
		switch num {
		case 1:
			var vt [2]int64
			err := eachField(b, func(n protowire.Number, _ protowire.Type, _ []byte, v uint64) error {
				if n == 1 || n == 2 {
					vt[n-1] = int64(v)
				}
				return nil
			})
			types = append(types, vt)
			return err
		case 2:
			var s sample
			err := eachField(b, func(n protowire.Number, t protowire.Type, sb []byte, v uint64) error {
				switch {
				case n == 2 && t == protowire.BytesType:
					for len(sb) > 0 {
						x, m := protowire.ConsumeVarint(sb)
						if m < 0 {
							return protowire.ParseError(m)
						}
						s.values, sb = append(s.values, int64(x)), sb[m:]
					}
				case n == 2:
					s.values = append(s.values, int64(v))
				case n == 3:
					var l label
					err := eachField(sb, func(ln protowire.Number, _ protowire.Type, _ []byte, lv uint64) error {
						switch ln {
						case 1:
							l.key = int64(lv)
						case 2:
							l.str = int64(lv)
						}
						return nil
					})
					s.labels = append(s.labels, l)
					return err
				}
				return nil
			})
			samples = append(samples, s)
			return err
		case 6:
			strs = append(strs, string(b))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("decoding the cpu profile: %w", err)
	}
	str := func(i int64) string {
		if i < 0 || int(i) >= len(strs) {
			return ""
		}
		return strs[i]
	}
	col := -1
	for i, vt := range types {
		if str(vt[0]) == "cpu" && str(vt[1]) == "nanoseconds" {
			col = i
		}
	}
	if col < 0 {
		return nil, errors.New("decoding the cpu profile: no cpu/nanoseconds sample type")
	}
	out := map[string]time.Duration{}
	for _, s := range samples {
		if col >= len(s.values) {
			continue
		}
		side := ""
		for _, l := range s.labels {
			if str(l.key) == key {
				side = str(l.str)
			}
		}
		out[side] += time.Duration(s.values[col])
	}
	return out, nil
}

// eachField calls fn for every field of the protobuf message b: varints
// and fixed values as v, length-delimited ones as their bytes.
func eachField(b []byte, fn func(num protowire.Number, typ protowire.Type, val []byte, v uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var (
			val []byte
			v   uint64
		)
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			v, n = protowire.ConsumeFixed64(b)
		case protowire.Fixed32Type:
			var x uint32
			x, n = protowire.ConsumeFixed32(b)
			v = uint64(x)
		case protowire.BytesType:
			val, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := fn(num, typ, val, v); err != nil {
			return err
		}
	}
	return nil
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clockTicks is the unit of the CPU times of /proc/<pid>/stat (USER_HZ,
// 100 on every Linux ABI Go runs on).
const clockTicks = 100

// processCPU sums the CPU time (user and system) of the processes whose
// command name is comm, from /proc, with that of their children that have
// exited (a PostgreSQL backend that ends counts in its postmaster's), and
// says how many there were.
func processCPU(comm string) (time.Duration, int) {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var total time.Duration
	n := 0
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: utime, stime, cutime and cstime are
		// fields 14 to 17.
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open || s[open+1:end] != comm {
			continue
		}
		f := strings.Fields(s[end+1:])
		if len(f) < 15 {
			continue
		}
		var ticks int64
		for _, x := range f[11:15] {
			v, err := strconv.ParseInt(x, 10, 64)
			if err != nil {
				ticks = -1
				break
			}
			ticks += v
		}
		if ticks < 0 {
			continue
		}
		total += time.Duration(ticks) * time.Second / clockTicks
		n++
	}
	return total, n
}

// hostBusy is the CPU time the whole host has spent busy (not idle nor
// waiting for I/O) since it booted, from /proc/stat.
func hostBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, x := range f[1:] {
		v, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return 0
		}
		// user nice system idle iowait irq softirq steal guest guest_nice:
		// guest time is counted in user time already.
		if i != 3 && i != 4 && i < 8 {
			busy += v
		}
	}
	return time.Duration(busy) * time.Second / clockTicks
}

// usage is a reading of the CPU time used so far by this process, by the
// host's postgres processes and by the whole host.
type usage struct {
	at                time.Time
	process, pg, host time.Duration
	pgProcs           int
}

func readUsage() usage {
	pg, n := processCPU("postgres")
	return usage{at: time.Now(), process: cpuTime(), pg: pg, host: hostBusy(), pgProcs: n}
}

// since is the CPU used since u: by this process, by postgres and by every
// other process of the host, and the wall time elapsed.
func (u usage) since() (process, pg, others, wall time.Duration) {
	now := readUsage()
	process, pg = now.process-u.process, now.pg-u.pg
	others = max(0, now.host-u.host-process-pg)
	return process, pg, others, now.at.Sub(u.at)
}

// TestCPUBySide: the profile reader finds the CPU time of labelled
// goroutines, and of goroutines they start, under their label; the
// process's CPU time counts them.
func TestCPUBySide(t *testing.T) {
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		t.Skipf("cpu profiling is in use already (-cpuprofile?): %v", err)
	}
	// burn does a fixed amount of work: some 100ms of CPU, however busy
	// the host is.
	data := make([]byte, 1<<20)
	burn := func() {
		for range 200 {
			sha256.Sum256(data)
		}
	}
	use := readUsage()
	done := make(chan struct{})
	go pprof.Do(context.Background(), pprof.Labels("side", "busy"), func(context.Context) {
		inner := make(chan struct{})
		go func() { burn(); close(inner) }()
		burn()
		<-inner
		close(done)
	})
	<-done
	pprof.StopCPUProfile()
	process, _, _, wall := use.since()
	by, err := cpuBySide(buf.Bytes(), "side")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("process cpu %s over %s; profile %v", process, wall, by)
	// Sampling at 100 Hz is coarse.
	if by["busy"] < 50*time.Millisecond || by["busy"] < 3*by[""] {
		t.Errorf("cpu by side %v: want most of it, and some 50ms at least, under busy", by)
	}
	if process < by["busy"]*8/10 {
		t.Errorf("the process used %s of cpu, the profile counts %s", process, by["busy"])
	}
}
