package vm

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

func TestStateHash(t *testing.T) {
	a := "0b1f5a3e-0000-4000-8000-000000000001"
	b := "7c2d9e41-0000-4000-8000-000000000002"
	// Written out by hand: sorted lines, each "<uuid>:<STATE>\n".
	sum := sha256.Sum256([]byte(a + ":RUNNING\n" + b + ":STOPPED\n"))
	want := hex.EncodeToString(sum[:])
	if got := StateHash(map[string]State{b: StateStopped, a: StateRunning}); got != want {
		t.Fatalf("StateHash = %s, want %s", got, want)
	}
	if StateHash(map[string]State{a: StateRunning, b: StateRunning}) == want {
		t.Error("a different state gave the same hash")
	}
	empty := sha256.Sum256(nil)
	if got := StateHash(nil); got != hex.EncodeToString(empty[:]) {
		t.Errorf("empty host hash = %s", got)
	}
}
