package libvirt

import (
	"strings"
	"sync"

	"github.com/quantixvm/quantix/sdk/backend"
)

// parseCache remembers the last decoded definition of each domain with the
// XML text it came from. A domain whose XML has not changed since it was
// last read is not decoded again: the agent lists every VM of the host at
// each resync, and decoding XML costs several times more than fetching it.
// Only the definition is cached; states and disk sizes are read every time.
type parseCache struct {
	mu      sync.Mutex
	entries map[string]*parsedDomain
}

func newParseCache() *parseCache {
	return &parseCache{entries: make(map[string]*parsedDomain)}
}

// parse returns the decoded definition of doc, the XML of domain uuid.
func (c *parseCache) parse(uuid, doc string) (*parsedDomain, error) {
	uuid = strings.ToLower(uuid)
	c.mu.Lock()
	p, ok := c.entries[uuid]
	c.mu.Unlock()
	if ok && p.doc == doc {
		return p, nil
	}
	p, err := parseDomain(doc)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.entries[uuid] = p
	c.mu.Unlock()
	return p, nil
}

// retain drops the entries of domains not in a complete listing.
func (c *parseCache) retain(vms []*backend.VM) {
	keep := make(map[string]bool, len(vms))
	for _, vm := range vms {
		keep[vm.ID] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.entries {
		if !keep[id] {
			delete(c.entries, id)
		}
	}
}

// forget drops the entry of a deleted domain.
func (c *parseCache) forget(uuid string) {
	c.mu.Lock()
	delete(c.entries, strings.ToLower(uuid))
	c.mu.Unlock()
}

// len is the number of cached definitions.
func (c *parseCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
