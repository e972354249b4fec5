// Package testid gives tests random suffixes for the names of what they
// create (VMs, nodes, domains, databases), so that runs, and tests within a
// run, never take each other's names.
package testid

import (
	"crypto/rand"
	"encoding/hex"
)

// Hex returns n random bytes in hex (2n characters).
func Hex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
