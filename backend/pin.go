package backend

import (
	"errors"
	"fmt"

	"github.com/redisgate/redisgate/pool"
)

// Pinner is a Backend that can hold a connection to the node of keys for one client, for
// state Redis keeps on a connection across batches (WATCH … EXEC); see pool.Pin. The pinned
// connections come from the backend's blocking connections' pool, outside its Size: the
// caller bounds how many it holds.
type Pinner interface {
	Pin(keys [][]byte) (*pool.Pin, error)
}

// Pin holds a dedicated connection to the server.
func (n *Node) Pin([][]byte) (*pool.Pin, error) {
	if n.block == nil {
		return nil, fmt.Errorf("%w: %w", pool.ErrUnavailable, ErrNoBlocking)
	}
	return n.block.Pin()
}

// ErrPinStrong refuses a pin on a database in Strong mode: the writes of a pinned connection
// would not wait for a replica's acknowledgement.
var ErrPinStrong = errors.New("ERR WATCH is not available on a database in strong consistency mode: its writes must be acknowledged by a replica, which a connection pinned for WATCH does not wait for; use a Lua script for check-and-set")

// Pin holds a dedicated connection to the leader; in Strong mode it fails with ErrPinStrong.
func (r *Replicated) Pin([][]byte) (*pool.Pin, error) {
	if r.set.Mode() == Strong {
		return nil, ErrPinStrong
	}
	return r.set.Pin()
}

// Pin holds a dedicated connection to the primary of the slot of keys, which must share it.
func (c *Cluster) Pin(keys [][]byte) (*pool.Pin, error) { return c.block.Pin(keys) }
