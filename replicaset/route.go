package replicaset

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redisgate/redisgate/command"
	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/resp"
)

// counters are the set's routing events, for metrics and tests.
type counters struct {
	hedges      atomic.Int64 // hedge reads sent
	denied      atomic.Int64 // hedges the budget refused
	hedgeWins   atomic.Int64 // hedge reads whose answer was taken
	retries     atomic.Int64 // reads sent again to the next node after a connection failure
	checked     atomic.Int64 // token reads sent to the nearest replica behind ROLE
	checkMisses atomic.Int64 // … whose ROLE showed the replica short of the token
	hedgeCredit atomic.Int64 // the hedge budget, in fifths of a hedge (see spendHedge)
}

// The hedge budget: each hedgeable read earns a fifth of a hedge, up to hedgeBurst hedges
// saved, and a hedge spends one. Hedges then add at most a fifth to the reads sent, whatever
// the replicas' state or the reads' size: a tenant whose reads are slow by design (large
// values) cannot double its load on the tier, and a tier that is slow everywhere is not sent
// twice the reads.
const (
	hedgeShare = 5
	hedgeBurst = 10
)

// earnHedge credits the budget for one hedgeable read.
func (c *counters) earnHedge() {
	for {
		v := c.hedgeCredit.Load()
		if v >= hedgeBurst*hedgeShare || c.hedgeCredit.CompareAndSwap(v, v+1) {
			return
		}
	}
}

// spendHedge takes one hedge from the budget; false when it is spent.
func (c *counters) spendHedge() bool {
	for {
		v := c.hedgeCredit.Load()
		if v < hedgeShare {
			return false
		}
		if c.hedgeCredit.CompareAndSwap(v, v-hedgeShare) {
			return true
		}
	}
}

// Counters are the set's routing events since it started.
type Counters struct {
	// Hedges counts hedge reads sent, HedgeWins those whose answer was taken, HedgesDenied
	// the slow reads not hedged because the budget (a fifth of the hedgeable reads) was spent.
	Hedges, HedgeWins, HedgesDenied int64
	// Retries counts reads sent to the next node after the first failed without an answer.
	Retries int64
	// Checked counts sync-token reads sent to the nearest replica, behind ROLE, although its
	// last probe had not reached the token; CheckMisses those it had still not reached
	// (they went on to another node).
	Checked, CheckMisses int64
}

// Counters returns the set's routing events since it started.
func (s *Set) Counters() Counters {
	c := &s.count
	return Counters{Hedges: c.hedges.Load(), HedgeWins: c.hedgeWins.Load(), HedgesDenied: c.denied.Load(), Retries: c.retries.Load(),
		Checked: c.checked.Load(), CheckMisses: c.checkMisses.Load()}
}

// tieAbs and tieRel define equally near: two latencies tie when they differ by at most
// tieAbs or tieRel of the smaller, whichever is more. Regions are 5 ms or more apart; zones
// of one region, and replicas on one busy host, differ by less than tieAbs, and the probes'
// noise on a loaded gateway is of that order: within a region the label (Options.Region),
// not the noise, picks the zone.
const (
	tieAbs = 2 * time.Millisecond
	tieRel = 0.2
)

// tie reports whether latencies a and b count as equally near.
func tie(a, b time.Duration) bool {
	lo, hi := min(a, b), max(a, b)
	return hi-lo <= max(tieAbs, time.Duration(tieRel*float64(lo)))
}

// order appends to buf the replicas that may serve an eventual read now, nearest first: the
// healthy ones (by their last probe) not farther than the leader. The first are the group
// tied with the nearest, those of the gateway's region alone when it has some there,
// rotated so that reads spread over the group.
func (s *Set) order(t *topology, lst *state, buf []*node) []*node {
	var lead time.Duration
	if lst != nil && lst.ok && lst.master {
		lead = t.leader.latency()
	}
	for _, r := range t.replicas {
		l := r.latency()
		if l <= 0 || !s.healthy(r, lst, Position{}) || (lead > 0 && l > lead && !tie(l, lead)) {
			continue
		}
		buf = append(buf, r)
		for i := len(buf) - 1; i > 0 && buf[i].latency() < buf[i-1].latency(); i-- {
			buf[i], buf[i-1] = buf[i-1], buf[i]
		}
	}
	if len(buf) == 0 {
		return buf
	}
	nearest := buf[0].latency()
	g := 1
	for g < len(buf) && tie(buf[g].latency(), nearest) {
		g++
	}
	if s.opts.Region != "" {
		// Own region first, keeping the order of each part.
		k := 0
		for i := range g {
			if buf[i].region == s.opts.Region {
				r := buf[i]
				copy(buf[k+1:i+1], buf[k:i])
				buf[k] = r
				k++
			}
		}
		if k > 0 {
			g = k
		}
	}
	if g > 1 {
		rot := int(s.next.Add(1) % uint64(g))
		rotate(buf[:g], rot)
	}
	return buf
}

// rotate moves the first k elements of p to its end.
func rotate(p []*node, k int) {
	reverse := func(q []*node) {
		for i, j := 0, len(q)-1; i < j; i, j = i+1, j-1 {
			q[i], q[j] = q[j], q[i]
		}
	}
	reverse(p[:k])
	reverse(p[k:])
	reverse(p)
}

// reached reports whether replica r's last probe shows it holding after.
func reached(r *node, after Position) bool {
	st := r.state.Load()
	return st != nil && st.ok && st.replID == after.ReplID && st.offset >= after.Offset
}

// readNearest runs the eventual read b on the nearest replica that may serve it (see order),
// falling back to the next one, then the leader. With a sync token (after), a replica whose
// last probe has not reached it serves only when a ROLE sent just before the read, on the
// same connection, shows it has (readIfReached): one round trip to the nearest replica, and
// never a wait; otherwise the read goes to the nearest replica whose probe has reached it,
// else to the leader.
func (s *Set) readNearest(ctx context.Context, b *pool.Batch, t *topology, lst *state, after Position, res Result) (Result, error) {
	var buf [8]*node
	near := s.order(t, lst, buf[:0])
	if !after.IsZero() {
		if len(near) > 0 && !reached(near[0], after) {
			if st := near[0].state.Load(); st != nil && st.replID == after.ReplID {
				if r, done, err := s.readIfReached(ctx, b, near[0], after, res); done {
					return r, err
				}
			}
		}
		k := 0
		for _, r := range near {
			if reached(r, after) {
				near[k] = r
				k++
			}
		}
		near = near[:k]
	}
	switch len(near) {
	case 0:
		return s.readOn(ctx, b, t.leader, nil, after, res)
	case 1:
		return s.readOn(ctx, b, near[0], t.leader, after, res)
	}
	return s.readOn(ctx, b, near[0], near[1], after, res)
}

// readOn runs the read b on first; when first fails without an answer (its connection down
// or lost) and every command of b is safe to send again, on second (nil: none); with
// HedgeAfter, a single-key read first has not answered in time goes to second too.
func (s *Set) readOn(ctx context.Context, b *pool.Batch, first, second *node, after Position, res Result) (Result, error) {
	var n *node
	var err error
	if second != nil && s.opts.HedgeAfter > 0 && hedgeable(b) {
		n, err = s.hedged(ctx, b, first, second)
	} else {
		n, err = s.sendRetry(ctx, b, first, second)
	}
	res.Node = n.addr
	if err != nil {
		return res, err
	}
	n.reads.Add(1)
	res.Pos = after
	if st := n.state.Load(); st != nil && st.ok && st.replID != "" && (after.IsZero() || st.offset > after.Offset) {
		res.Pos = Position{ReplID: st.replID, Offset: st.offset}
	}
	return res, nil
}

// retryable reports whether a read that failed with err got no answer for want of a
// connection, so that another node may run it.
func retryable(err error) bool {
	return errors.Is(err, pool.ErrUnavailable) || errors.Is(err, pool.ErrBroken)
}

// sendRetry sends b to first and, when that fails without an answer and b may be sent again,
// a copy of b to second. It returns the node whose outcome b holds.
func (s *Set) sendRetry(ctx context.Context, b *pool.Batch, first, second *node) (*node, error) {
	err := first.pool.Do(ctx, b)
	if err == nil || second == nil || !retryable(err) || ctx.Err() != nil || !retrySafe(b) {
		return first, err
	}
	s.count.retries.Add(1)
	c := b.Again()
	defer c.Release()
	if err2 := second.pool.Do(ctx, c); err2 != nil {
		if !errors.Is(err, pool.ErrUnavailable) {
			// b was written (its connection broke after): its error must not say it may be
			// sent again, as second's "unavailable" would.
			return first, err
		}
		return second, err2
	}
	b.Adopt(c, b.Len())
	return second, nil
}

// attempt is the outcome of one copy of a read sent by hedged.
type attempt struct {
	n   *node
	c   *pool.Batch
	err error
}

// hedged sends a copy of b to first and, when it has not answered after HedgeAfter and the
// budget allows (or it failed without an answer), another to second; b takes the first answer. The other copy is
// abandoned (its context ends: the pool discards its reply when it comes). It returns once
// both copies' Do have returned, so that no goroutine outlives it.
func (s *Set) hedged(ctx context.Context, b *pool.Batch, first, second *node) (*node, error) {
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan attempt, 2)
	send := func(n *node) {
		c := b.Again()
		go func() { done <- attempt{n: n, c: c, err: n.pool.Do(hctx, c)} }()
	}
	s.count.earnHedge()
	send(first)
	sent := 1
	timer := time.NewTimer(s.opts.HedgeAfter)
	defer timer.Stop()
	var win *attempt
	var fail attempt
	for got := 0; got < sent; {
		select {
		case <-timer.C:
			if win == nil && sent == 1 {
				if !s.count.spendHedge() {
					s.count.denied.Add(1)
					continue
				}
				s.count.hedges.Add(1)
				send(second)
				sent++
			}
		case a := <-done:
			got++
			if a.err == nil && win == nil {
				win = &a
				cancel()
				continue
			}
			a.c.Release() // a loser that completed is recycled; an abandoned one is left to the GC
			if a.err != nil && fail.n == nil {
				fail = a
			}
			if a.err != nil && win == nil && sent == 1 && retryable(a.err) && ctx.Err() == nil {
				s.count.retries.Add(1)
				send(second)
				sent++
			}
		}
	}
	if win == nil {
		return fail.n, fail.err
	}
	if win.n == second {
		s.count.hedgeWins.Add(1)
	}
	b.Adopt(win.c, b.Len())
	win.c.Release()
	return win.n, nil
}

// readIfReached sends b's commands to replica n behind ROLE, which gives the offset n has
// applied when the read runs. done reports that b holds the outcome: the replica had reached
// after, or ctx ended. Otherwise the replies are dropped and the caller reads elsewhere.
func (s *Set) readIfReached(ctx context.Context, b *pool.Batch, n *node, after Position, res Result) (r Result, done bool, err error) {
	cmds, err := b.Commands()
	if err != nil {
		return res, false, nil
	}
	w := pool.NewBatch(len(cmds) + 1)
	w.Add([]byte("ROLE"))
	for _, c := range cmds {
		w.Add(c...)
	}
	s.count.checked.Add(1)
	if err := n.pool.Do(ctx, w); err != nil {
		w.Release()
		if ctx.Err() != nil {
			res.Node = n.addr
			return res, true, err
		}
		return res, false, nil
	}
	defer w.Release()
	off, ok := replicaOffset(w.Reply(0))
	if !ok || off < after.Offset {
		s.count.checkMisses.Add(1)
		return res, false, nil
	}
	replies := make([][]byte, len(cmds))
	for i := range replies {
		replies[i] = w.Reply(i + 1)
	}
	b.Answer(replies)
	n.reads.Add(1)
	res.Node = n.addr
	res.Pos = Position{ReplID: after.ReplID, Offset: off}
	return res, true, nil
}

// replicaOffset reads the applied offset from a replica's ROLE reply
// (slave, host, port, state, offset); ok is false unless the replica is connected.
func replicaOffset(raw []byte) (int64, bool) {
	kind, _, n, rest, err := resp.Next(raw)
	if err != nil || kind != resp.Array || n < 5 {
		return 0, false
	}
	var field [5][]byte
	for i := range field {
		var data []byte
		if _, data, _, rest, err = resp.Next(rest); err != nil {
			return 0, false
		}
		field[i] = data
	}
	if string(field[0]) != "slave" || string(field[3]) != "connected" {
		return 0, false
	}
	v, err := strconv.ParseInt(string(field[4]), 10, 64)
	return v, err == nil
}

// hedgeable reports whether b is one retry-safe command of one key (GET, HGET, ZSCORE…), which
// may run twice on two nodes.
func hedgeable(b *pool.Batch) bool {
	if b.Len() != 1 {
		return false
	}
	cmds, err := b.Commands()
	if err != nil {
		return false
	}
	info := command.Lookup(cmds[0])
	if info.Kind != command.Normal || !info.RetrySafe || info.Script {
		return false
	}
	var buf [2]int
	keys, err := command.KeyIndexes(cmds[0], buf[:0])
	return err == nil && len(keys) == 1
}

// retrySafe reports whether every command of b may be sent again after a connection broke
// before its answer came.
func retrySafe(b *pool.Batch) bool {
	cmds, err := b.Commands()
	if err != nil {
		return false
	}
	for _, c := range cmds {
		if !command.Lookup(c).RetrySafe {
			return false
		}
	}
	return true
}
