package cluster

import (
	"errors"

	"github.com/redisgate/redisgate/pool"
)

// ErrCrossSlot reports keys of a pin that do not share one slot.
var ErrCrossSlot = errors.New("CROSSSLOT Keys in request don't hash to the same slot")

// Pin holds a connection to the primary that serves the slot of keys now (see pool.Pin), for
// connection state such as WATCH; keys must share one slot (ErrCrossSlot). Commands sent on
// it for keys of other nodes' slots get Redis's -MOVED reply.
func (bl *Blocking) Pin(keys [][]byte) (*pool.Pin, error) {
	slot := -1
	for _, k := range keys {
		if s := Slot(k); slot >= 0 && s != slot {
			return nil, ErrCrossSlot
		} else {
			slot = s
		}
	}
	c := bl.c
	d, err := c.dedicated(c.route(c.topo.Load(), slot))
	if err != nil {
		return nil, err
	}
	return d.Pin()
}
