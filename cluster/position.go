package cluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/resp"
)

// Position is a point in one shard's replication stream: the replication ID of the shard's
// primary (40 hexadecimal characters) and an offset in it. A sync token carries one.
//
// Read-your-writes on a Cluster: the answer to a write sent whole to one primary carries that
// primary's replication ID and its offset just after the write; a later read of the same
// shard carrying it goes to a replica only if that replica, asked with ROLE on the
// connection the read then travels on, has reached the offset, and to the primary otherwise.
// A read of any other shard, or carrying a position that names no current primary (another
// history after a failover or restart, a forged token), goes to the primary: the position
// names the one shard written last, and the primaries have every write. A write split over
// several primaries answers Pinned, which sends the following reads to primaries until the
// next write to one shard.
type Position struct {
	ReplID string
	Offset int64
}

// IsZero reports whether p names no point.
func (p Position) IsZero() bool { return p.ReplID == "" }

// Pinned is the position a write whose offset is not known answers with (split over several
// primaries, redirected, a transaction): it names no primary, so reads carrying it go to
// the primaries.
var Pinned = Position{ReplID: strings.Repeat("0", 40)}

// Request says how DoAt runs a batch.
type Request struct {
	// Primary keeps reads on the primaries (strong consistency for the request).
	Primary bool
	// After is the position of the request's sync token: a read must see it. Zero: none.
	After Position
}

// DoAt is Do for a request that may carry a position (see Position): with ReplicaReads, a
// read goes to a replica only where After allows, and the position returned makes the
// request's next sync token: a write's own, or After for a read. Without ReplicaReads every
// command goes to the primaries and the position is zero.
func (c *Cluster) DoAt(ctx context.Context, b *pool.Batch, req Request) (Position, error) {
	if !c.opts.ReplicaReads {
		return Position{}, c.Do(ctx, b)
	}
	return c.do(ctx, b, req)
}

// wrote returns the position a batch of cmds answers when it did not go whole to one
// primary: Pinned if some command writes (with ReplicaReads), else the request's own.
func (c *Cluster) wrote(req Request, cmds [][][]byte) Position {
	if c.opts.ReplicaReads && !onlyReads(cmds) {
		return Pinned
	}
	return req.After
}

// directWrite sends b, whose commands all go to the primary at addr, in a copy followed by
// ROLE, and returns the primary's position once they ran.
func (c *Cluster) directWrite(ctx context.Context, b *pool.Batch, addr string, parts []part, units []unit) (Position, error) {
	id := c.replID(ctx, addr)
	p, err := c.pool(addr)
	if err != nil {
		return Position{}, err
	}
	n := b.Len()
	w := b.Again()
	defer w.Release()
	w.Add([]byte("ROLE"))
	if err := p.Do(ctx, w); err != nil {
		var down *pool.UnavailableError
		if errors.As(err, &down) || errors.Is(err, pool.ErrBroken) || errors.Is(err, pool.ErrClosed) {
			c.reload()
		}
		return Position{}, err
	}
	off, isPrimary := roleOffset(w.Reply(n))
	b.Adopt(w, n)
	redirected, err := c.redirects(ctx, b, addr, parts, units)
	if err != nil || redirected || id == "" || !isPrimary {
		return Pinned, err
	}
	return Position{ReplID: id, Offset: off}, nil
}

// replicaRead sends b, which only reads and whose keys are all served by the primary at addr,
// to a replica of it when after allows (see Position). done is false when the primary is to
// answer instead (b not answered).
func (c *Cluster) replicaRead(ctx context.Context, b *pool.Batch, t *topology, addr string, parts []part, units []unit, after Position) (done bool, err error) {
	r := c.replicaOf(t, addr)
	if r == "" {
		return false, nil
	}
	// Not sent (no connection to the replica), or lost with it: the primary answers. The
	// batch only reads, so running it there too changes nothing.
	fallBack := func(err error) bool {
		var down *pool.UnavailableError
		return (errors.As(err, &down) || errors.Is(err, pool.ErrBroken)) && ctx.Err() == nil
	}
	if after.IsZero() {
		// A copy travels, so that b stays unsent for the primary should the replica fail.
		w := b.Again()
		defer w.Release()
		err := c.direct(ctx, w, r, parts, units, true)
		if !fallBack(err) {
			if err == nil {
				b.Adopt(w, b.Len())
				c.replicaReads.Add(1)
			}
			return true, err
		}
		c.replicaFallbacks.Add(1)
		return false, nil
	}
	if id := c.replID(ctx, addr); id == "" || id != after.ReplID {
		c.tokenPrimary.Add(1) // another shard's position, another history, or a forged one
		return false, nil
	}
	p, err := c.reader(r)
	if err != nil {
		return false, nil
	}
	cmds, err := b.Commands()
	if err != nil {
		return true, err
	}
	// ROLE first, on the connection the read travels on: the read sees at least what ROLE says.
	w := pool.NewBatch(len(cmds) + 1)
	defer w.Release()
	w.Add([]byte("ROLE"))
	for _, args := range cmds {
		w.Add(args...)
	}
	if err := p.Do(ctx, w); err != nil {
		if fallBack(err) {
			c.replicaFallbacks.Add(1)
			return false, nil
		}
		return true, err
	}
	if !caughtUp(w.Reply(0), after.Offset) {
		c.lagged.Add(1)
		return false, nil
	}
	replies := make([][]byte, len(cmds))
	for i := range cmds {
		replies[i] = w.Reply(i + 1)
		if r := replies[i]; len(r) > 0 && r[0] == resp.Error && followed(r, cmds[i]) {
			return false, nil // the replica's shard changed: the primary's redirection is followed
		}
	}
	b.Answer(replies)
	c.replicaReads.Add(1)
	return true, nil
}

// caughtUp reports whether the ROLE reply raw is a replica's that is connected to its primary
// and has processed its replication stream up to offset.
func caughtUp(raw []byte, offset int64) bool {
	v, err := decode(raw)
	if err != nil {
		return false
	}
	f, ok := v.([]any)
	if !ok || len(f) < 5 {
		return false
	}
	role, _ := f[0].(string)
	state, _ := f[3].(string)
	off, ok := f[4].(int64)
	return ok && role == "slave" && state == "connected" && off >= offset
}

// roleOffset reads a primary's offset from its ROLE reply; isPrimary is false for any other.
func roleOffset(raw []byte) (offset int64, isPrimary bool) {
	v, err := decode(raw)
	if err != nil {
		return 0, false
	}
	f, ok := v.([]any)
	if !ok || len(f) < 2 {
		return 0, false
	}
	role, _ := f[0].(string)
	off, ok := f[1].(int64)
	return off, ok && role == "master"
}

type replIDEntry struct {
	id       string
	fetching bool // a request is learning it: others go without
}

// replID returns the replication ID of the primary at addr, as last learned (the refresher
// learns every primary's again at each reload; a change of the slot map forgets them all), or
// "" when it is not known: the first call learns it, while concurrent ones get "".
func (c *Cluster) replID(ctx context.Context, addr string) string {
	c.mu.Lock()
	if e, ok := c.replIDs[addr]; ok || c.replIDs == nil {
		c.mu.Unlock()
		return e.id
	}
	c.replIDs[addr] = replIDEntry{fetching: true}
	c.mu.Unlock()
	id, err := c.fetchReplID(ctx, addr)
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.replIDs[addr]; ok && e.fetching {
		delete(c.replIDs, addr)
		if err == nil {
			c.replIDs[addr] = replIDEntry{id: id}
		}
	}
	if err != nil {
		c.opts.Logger.Debug("cluster: replication ID not learned", "addr", addr, "err", err)
	}
	return id
}

// learnReplIDs learns again the replication IDs of the primaries already known (a primary
// restarted at its address has another).
func (c *Cluster) learnReplIDs(ctx context.Context) {
	c.mu.Lock()
	var addrs []string
	for a, e := range c.replIDs {
		if !e.fetching {
			addrs = append(addrs, a)
		}
	}
	c.mu.Unlock()
	for _, a := range addrs {
		id, err := c.fetchReplID(ctx, a)
		c.mu.Lock()
		if e, ok := c.replIDs[a]; ok && !e.fetching {
			if err != nil {
				delete(c.replIDs, a)
			} else {
				c.replIDs[a] = replIDEntry{id: id}
			}
		}
		c.mu.Unlock()
	}
}

// fetchReplID asks the node at addr for its master_replid, with the operator's credentials.
func (c *Cluster) fetchReplID(ctx context.Context, addr string) (string, error) {
	o := c.opts.Node
	o.Addr, o.DB, o.Confine = addr, 0, nil
	if o.DialTimeout <= 0 {
		o.DialTimeout = 2 * time.Second
	}
	dctx, cancel := context.WithTimeout(ctx, o.DialTimeout)
	defer cancel()
	nc, err := pool.Dial(dctx, o)
	if err != nil {
		return "", err
	}
	defer nc.Close()
	d, _ := dctx.Deadline()
	nc.SetDeadline(d)
	if _, err := nc.Write(resp.AppendCommand(nil, [][]byte{[]byte("INFO"), []byte("replication")})); err != nil {
		return "", fmt.Errorf("INFO replication: %w", err)
	}
	raw, err := resp.ReadReply(bufio.NewReader(nc), nil, 64<<10)
	if err != nil {
		return "", fmt.Errorf("INFO replication: %w", err)
	}
	_, text, _, _, err := resp.Next(raw)
	if err != nil {
		return "", fmt.Errorf("INFO replication: %w", err)
	}
	for _, line := range bytes.Split(text, []byte("\n")) {
		if v, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("master_replid:")); ok && len(v) == 40 {
			return string(v), nil
		}
	}
	return "", fmt.Errorf("INFO replication: no master_replid in %q", truncate(text))
}

// forgetReplIDs drops the remembered replication IDs (the slot map changed).
func (c *Cluster) forgetReplIDs() {
	c.mu.Lock()
	if c.replIDs != nil {
		clear(c.replIDs)
	}
	c.mu.Unlock()
}
