package libvirt

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"libvirt.org/go/libvirt"

	"github.com/quantixvm/quantix/sdk/backend"
)

// BenchmarkListVMs1000 lists 1000 Quantix VMs of a test-driver node file
// through the Backend and, as the baseline in the same loop, with the raw
// calls it makes (ListAllDomains, then GetXMLDesc and GetState per domain).
// backend/raw is the cost of the Backend relative to the raw calls in the
// steady state (definitions unchanged since the last list, so not decoded
// again); cold-backend/raw is the same with every definition decoded.
func BenchmarkListVMs1000(b *testing.B) {
	const n = 1000
	path := filepath.Join(b.TempDir(), "node.xml")
	if err := WriteTestDriverFile(path, n); err != nil {
		b.Fatal(err)
	}
	uri := "test://" + path
	be := New(WithLogger(hclog.NewNullLogger()))
	defer be.Close()
	cfg := fmt.Sprintf(`{"uri": %q, "image_dir": %q}`, uri, b.TempDir())
	if err := be.Configure(context.Background(), []byte(cfg), backend.APIVersion); err != nil {
		b.Fatal(err)
	}
	conn, err := libvirt.NewConnect(uri)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	var inBackend, inCold, inRaw time.Duration
	for b.Loop() {
		be.parsed = newParseCache()
		start := time.Now()
		vms, err := be.ListVMs(ctx)
		inCold += time.Since(start)
		if err != nil || len(vms) != n || !vms[0].Managed {
			b.Fatalf("ListVMs: %d vms, %v", len(vms), err)
		}
		start = time.Now()
		vms, err = be.ListVMs(ctx)
		inBackend += time.Since(start)
		if err != nil || len(vms) != n || !vms[0].Managed {
			b.Fatalf("ListVMs: %d vms, %v", len(vms), err)
		}
		start = time.Now()
		got, err := listRaw(conn)
		inRaw += time.Since(start)
		if err != nil || got != n {
			b.Fatalf("raw list: %d domains, %v", got, err)
		}
	}
	b.ReportMetric(float64(inBackend.Microseconds())/float64(b.N)/1000, "backend-ms/list")
	b.ReportMetric(float64(inRaw.Microseconds())/float64(b.N)/1000, "raw-ms/list")
	b.ReportMetric(float64(inBackend)/float64(inRaw), "backend/raw")
	b.ReportMetric(float64(inCold)/float64(inRaw), "cold-backend/raw")
}

// listRaw does the libvirt calls of a listing without the Backend.
func listRaw(c *libvirt.Connect) (int, error) {
	doms, err := c.ListAllDomains(0)
	if err != nil {
		return 0, err
	}
	defer freeDomains(doms)
	for i := range doms {
		if _, err := doms[i].GetXMLDesc(0); err != nil {
			return 0, err
		}
		if _, _, err := doms[i].GetState(); err != nil {
			return 0, err
		}
	}
	return len(doms), nil
}

// BenchmarkTailLog1GiB tails the last 1000 lines of a 1 GiB QEMU log through
// the Backend; the baseline, measured in the same run, reads the whole file
// and keeps the last 1000 lines. speedup is baseline time / tail time.
func BenchmarkTailLog1GiB(b *testing.B) {
	if testing.Short() {
		b.Skip("writes a 1 GiB log; not run with -short")
	}
	const lines = 1000
	logDir := b.TempDir()
	be := New(WithLogger(hclog.NewNullLogger()))
	defer be.Close()
	cfg := fmt.Sprintf(`{"uri": %q, "image_dir": %q, "qemu_log_dir": %q}`, testURI, b.TempDir(), logDir)
	if err := be.Configure(context.Background(), []byte(cfg), backend.APIVersion); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	name := fmt.Sprintf("%sbench-%d", testPrefix, time.Now().UnixNano())
	vm, err := be.CreateVM(ctx, testSpec(name))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = be.DeleteVM(ctx, vm.ID, backend.DeleteOptions{Force: true, DeleteDisks: true}) }()
	path := filepath.Join(logDir, name+".log")
	last, err := writeBigLog(path, 1<<30)
	if err != nil {
		b.Fatal(err)
	}

	const baselineRuns = 3
	start := time.Now()
	for range baselineRuns {
		got, err := readAllTail(path, lines)
		if err != nil || got[len(got)-1] != last {
			b.Fatalf("baseline: %v", err)
		}
	}
	baseline := time.Since(start) / baselineRuns

	var tailTime time.Duration
	for b.Loop() {
		t0 := time.Now()
		tail, err := be.TailLog(ctx, vm.ID, lines)
		tailTime += time.Since(t0)
		if err != nil || len(tail.Lines) != lines || tail.Lines[lines-1] != last || !tail.Truncated {
			b.Fatalf("TailLog: %d lines, %v", len(tail.Lines), err)
		}
	}
	per := tailTime / time.Duration(b.N)
	b.ReportMetric(float64(per.Microseconds())/1000, "tail-ms")
	b.ReportMetric(float64(baseline.Microseconds())/1000, "fullread-ms")
	b.ReportMetric(float64(baseline)/float64(per), "speedup")
}

// writeBigLog writes about size bytes of ~100-byte log lines to path and
// returns the last line.
func writeBigLog(path string, size int64) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	pad := strings.Repeat("x", 40)
	var written int64
	var line string
	for i := 0; written < size; i++ {
		line = fmt.Sprintf("2026-01-01T00:00:00.%06dZ qemu-system-x86_64: line %09d of the benchmark log %s", i%1000000, i, pad)
		n, err := w.WriteString(line + "\n")
		if err != nil {
			return "", err
		}
		written += int64(n)
	}
	if err := w.Flush(); err != nil {
		return "", err
	}
	return line, f.Close()
}

// readAllTail is the naive way: read every line, keep the last n.
func readAllTail(path string, n int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ring := make([]string, n)
	count := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		ring[count%n] = sc.Text()
		count++
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if count < n {
		return ring[:count], nil
	}
	start := count % n
	return append(ring[start:], ring[:start]...), nil
}
