package cluster

import "github.com/redisgate/redisgate/pool"

// Pin holds a connection to the primary that serves key's slot now (see pool.Pin), for
// connection state such as WATCH; commands for keys of other nodes' slots sent on it get
// Redis's -MOVED reply.
func (bl *Blocking) Pin(key []byte) (*pool.Pin, error) {
	c := bl.c
	d, err := c.dedicated(c.route(c.topo.Load(), Slot(key)))
	if err != nil {
		return nil, err
	}
	return d.Pin()
}
