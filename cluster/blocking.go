package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/redisgate/redisgate/command"
	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/resp"
)

// Blocking runs the commands that block their connection (BLPOP, XREAD BLOCK, …) of a
// Cluster on connections of their own (pool.Dedicated, one set per primary), sending each
// batch to the primary of its keys' slot; a MOVED is followed as in Cluster.Do.
type Blocking struct {
	c *Cluster
}

// Blocking returns the Cluster's runner of blocking commands; Close closes it with the rest.
func (c *Cluster) Blocking() *Blocking { return &Blocking{c: c} }

// Do runs b, whose keys must share one slot, on a dedicated connection to its primary.
func (bl *Blocking) Do(ctx context.Context, b *pool.Batch) error {
	cmds, err := b.Commands()
	if err != nil {
		return err
	}
	slot := -1
	for _, args := range cmds {
		idx, err := command.KeyIndexes(args, nil)
		if err != nil {
			b.Answer(errorReplies(len(cmds), resp.AppendError(nil, err.Error())))
			return nil
		}
		for _, i := range idx {
			if s := Slot(args[i]); slot >= 0 && s != slot {
				b.Answer(errorReplies(len(cmds), crossSlot))
				return nil
			} else {
				slot = s
			}
		}
	}
	c := bl.c
	for range c.opts.MaxRedirects {
		addr := c.route(c.topo.Load(), slot)
		d, err := c.dedicated(addr)
		if err != nil {
			return err
		}
		one := pool.NewBatch(len(cmds))
		for _, args := range cmds {
			one.Add(args...)
		}
		if err := d.Do(ctx, one); err != nil {
			var down *pool.UnavailableError
			if errors.As(err, &down) {
				c.reload()
			}
			return err
		}
		if r := one.Reply(0); bytes.HasPrefix(r, []byte("-MOVED ")) {
			if s, a, ok := redirect(r[1 : len(r)-2]); ok {
				one.Release()
				c.moved.Add(1)
				c.learn(s, a)
				continue
			}
		}
		replies := make([][]byte, len(cmds))
		for i := range replies {
			replies[i] = append([]byte(nil), one.Reply(i)...)
		}
		one.Release()
		b.Answer(replies)
		return nil
	}
	return fmt.Errorf("cluster: blocking command redirected more than %d times", c.opts.MaxRedirects)
}

func errorReplies(n int, r []byte) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = r
	}
	return out
}

// dedicated returns the dedicated connections of the primary at addr, opening them on first use.
func (c *Cluster) dedicated(addr string) (*pool.Dedicated, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shut {
		return nil, pool.ErrClosed
	}
	if d := c.blocking[addr]; d != nil {
		return d, nil
	}
	o := c.opts.Node
	o.Addr, o.Size = addr, c.opts.BlockingSize
	d := pool.NewDedicated(o)
	c.blocking[addr] = d
	return d, nil
}
