package backend

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/resp"
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

// PinAcker is a Pinner whose writes on a pin are answered only once a replica acknowledged
// them (a replicated database in Strong mode): after a batch that may write, the caller
// runs AckPinned on the same pin.
type PinAcker interface {
	AckPinned(ctx context.Context, p *pool.Pin) error
}

// Pin holds a dedicated connection to the leader.
func (r *Replicated) Pin([][]byte) (*pool.Pin, error) { return r.set.Pin() }

// AckPinned waits, in Strong mode, for one replica to acknowledge the writes made so far on
// p (WAIT 1 on the same connection: WAIT covers only its own connection's writes), and fails
// with pool.ErrNotAcked when none did within the set's AckTimeout; in Eventual mode it
// returns at once.
func (r *Replicated) AckPinned(ctx context.Context, p *pool.Pin) error {
	if r.set.Mode() != Strong {
		return nil
	}
	timeout := r.set.AckTimeout()
	b := pool.NewBatch(1)
	defer b.Release()
	b.Add([]byte("WAIT"), []byte("1"), strconv.AppendInt(nil, max(1, timeout.Milliseconds()), 10))
	if err := p.Do(ctx, b); err != nil {
		return err
	}
	kind, data, _, _, err := resp.Next(b.Reply(0))
	if err != nil || kind != resp.Integer {
		return fmt.Errorf("%w: WAIT answered %q", pool.ErrNotAcked, b.Reply(0))
	}
	if n, _ := strconv.Atoi(string(data)); n < 1 {
		return fmt.Errorf("%w: no replica acknowledged within %v", pool.ErrNotAcked, timeout)
	}
	return nil
}

// Pin holds a dedicated connection to the primary of the slot of keys, which must share it.
func (c *Cluster) Pin(keys [][]byte) (*pool.Pin, error) { return c.block.Pin(keys) }
