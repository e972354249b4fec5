package logs

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// crashChildEnv makes the test binary a child that appends to the spool in
// the directory it names until it is killed.
const crashChildEnv = "QUANTIX_LOGS_CRASH_CHILD"

// crashChild appends from several goroutines and prints the payloads of
// every acknowledged append, one per line, as soon as Append returns.
func crashChild(dir string) int {
	s, err := OpenSpool(SpoolOptions{Dir: dir, Consumers: []string{"a"}, SegmentBytes: 64 << 10})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var out sync.Mutex
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				p := fmt.Sprintf("w%d-%07d-%s", w, i, strings.Repeat("x", 200))
				if _, err := s.Append(context.Background(), []byte{byte(w % 4)}, [][]byte{[]byte(p)}); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				out.Lock()
				_, _ = os.Stdout.WriteString("acked " + p[:12] + "\n")
				out.Unlock()
			}
		}()
	}
	wg.Wait()
	return 0
}

// TestSpoolSurvivesKill9: a process appending from many goroutines is
// killed with SIGKILL; every append it saw acknowledged is in the spool
// when it is opened again, and appending goes on from there.
func TestSpoolSurvivesKill9(t *testing.T) {
	dir := t.TempDir()
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acked := map[string]bool{}
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
				acked[p] = true
			}
			if len(acked) == 2000 {
				_ = cmd.Process.Signal(syscall.SIGKILL)
				break
			}
		}
		// Lines already written by the child before it died count too.
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
				acked[p] = true
			}
		}
		_ = cmd.Wait()
		if len(acked) < 2000 {
			t.Fatalf("round %d: the child acknowledged only %d appends: %s", round, len(acked), stderr.String())
		}
		s, err := OpenSpool(SpoolOptions{Dir: dir, Consumers: []string{"a"}, SegmentBytes: 64 << 10})
		if err != nil {
			t.Fatalf("round %d: reopening after kill -9: %v", round, err)
		}
		r, _ := s.Reader("a")
		found := map[string]bool{}
		for {
			recs, err := r.Read(1000, 4<<20)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) == 0 {
				break
			}
			for _, rec := range recs {
				found[string(rec.Payload[:12])] = true
			}
			r.Commit(recs[len(recs)-1].Seq + 1)
		}
		missing := 0
		for p := range acked {
			if !found[p] {
				missing++
			}
		}
		if missing > 0 {
			t.Fatalf("round %d: %d of %d acknowledged appends are missing after kill -9", round, missing, len(acked))
		}
		end := s.End()
		if _, err := s.Append(context.Background(), []byte{0}, [][]byte{[]byte("after-crash")}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: %d acknowledged, %d records read, spool end %d", round, len(acked), len(found), end)
	}
}
