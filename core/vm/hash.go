package vm

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
)

// StateHash is the hash an agent's heartbeat carries and the server computes
// from its database for the same node: SHA-256 over the sorted lines
// "<vm uuid>:<STATE>\n" of every VM on the node, hex-encoded. It uses only
// what both sides know, so equal views give equal hashes.
func StateHash(states map[string]State) string {
	ids := make([]string, 0, len(states))
	for id := range states {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	h := sha256.New()
	for _, id := range ids {
		h.Write([]byte(id))
		h.Write([]byte{':'})
		h.Write([]byte(states[id]))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}
