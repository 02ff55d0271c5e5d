package cluster

// Owner returns the address of the primary serving the slot of key in the current slot map,
// or "" when that slot has none.
func (c *Cluster) Owner(key []byte) string { return c.topo.Load().addr(Slot(key)) }

// OnChange has f called each time the slot map changes which primary serves some slot, or
// which nodes are primaries: after a slot moved (learned from MOVED or a reload), a failover,
// a primary added or removed. f runs synchronously, once the new map is in use and before the
// command that revealed the change is sent again; it must be quick and must not call back
// into the Cluster's Do.
func (c *Cluster) OnChange(f func()) {
	c.mu.Lock()
	c.watchers = append(c.watchers, f)
	c.mu.Unlock()
}

// changed calls the OnChange functions.
func (c *Cluster) changed() {
	c.forgetReplIDs()
	c.mu.Lock()
	ws := c.watchers
	c.mu.Unlock()
	for _, f := range ws {
		f()
	}
}

// sameOwners reports whether every slot has the same primary in a and b, and a and b have the
// same primaries.
func sameOwners(a, b *topology) bool {
	if a == nil || b == nil {
		return a == b
	}
	if len(a.addrs) != len(b.addrs) {
		return false
	}
	in := make(map[string]bool, len(a.addrs))
	for _, x := range a.addrs {
		in[x] = true
	}
	for _, x := range b.addrs {
		if !in[x] {
			return false
		}
	}
	for s := range Slots {
		if a.addr(s) != b.addr(s) {
			return false
		}
	}
	return true
}
