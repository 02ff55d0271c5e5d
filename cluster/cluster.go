// Package cluster serves one logical database over a Redis Cluster.
//
// A [Cluster] keeps the map of the 16,384 hash slots to their primaries (from CLUSTER SHARDS,
// or CLUSTER SLOTS where it is unknown; refreshed periodically, on MOVED and on connection
// failures) and one multiplexed pool
// ([pool.Pool]) per primary. Its Do has the contract of [pool.Pool.Do] for a batch of
// independent commands: one reply per command, in order. Each command goes to the primary of
// its keys' slot (keyless ones to any primary); the commands of one primary travel in one
// batch, in order, and the primaries' batches run concurrently. MOVED updates the map and the
// command is sent again to the node named; ASK sends ASKING and the command together to the
// importing node, once; TRYAGAIN (a multi-key command during a slot migration) is retried
// after a short, bounded backoff. None of this reorders the replies of a batch.
//
// Commands whose keys fall in several slots get Redis Cluster's CROSSSLOT error, except MGET,
// MSET, DEL, UNLINK, EXISTS and TOUCH, which are split per slot and their replies merged (an
// MSET split this way is not atomic). A batch that is a transaction (MULTI … EXEC) goes whole
// to the primary of its keys, which must share one slot; otherwise it is answered as Redis
// Cluster answers it, CROSSSLOT for the offending commands and EXECABORT for EXEC, without
// being sent.
//
// With replica reads, DoAt answers each write sent whole to one primary with that shard's
// replication position, and sends a read carrying one to a replica only when the replica has
// reached it (see [Position]); OnChange and Owner let a read cache follow the slot map.
package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redisgate/redisgate/command"
	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/resp"
)

// Options configures a Cluster.
type Options struct {
	// Seeds are host:port addresses of cluster nodes to learn the topology from.
	Seeds []string
	// Node is the template of each primary's pool: credentials, TLS, size, limits. Its Addr and
	// DB are ignored (a cluster has database 0 only).
	Node pool.Options
	// Refresh is how often the slot map is reloaded when nothing prompts it (default 5 s).
	Refresh time.Duration
	// ReplicaReads sends batches that only read to a replica of their shard (connections in
	// READONLY mode), round robin, falling back to the primary when no replica answers: the
	// eventual consistency of a replicated database; DoAt then gives read-your-writes with
	// positions (see Position). Off, every command goes to the primaries.
	ReplicaReads bool
	// BlockingSize is the number of dedicated connections per primary for blocking commands (default 8).
	BlockingSize int
	// MaxRedirects bounds the MOVED, ASK and TRYAGAIN answers followed for one command (default 5).
	MaxRedirects int
	// Logger receives topology changes (default slog.Default()).
	Logger *slog.Logger
}

// ErrNoSlots reports that no seed or known node could give the slot map.
var ErrNoSlots = errors.New("cluster: cannot load the slot map")

// Cluster routes batches over the primaries of a Redis Cluster.
type Cluster struct {
	opts Options
	topo atomic.Pointer[topology]

	mu       sync.Mutex
	pools    map[string]*pool.Pool      // by primary address
	blocking map[string]*pool.Dedicated // by primary address
	readers  map[string]*pool.Pool      // READONLY pools by replica address
	shut     bool

	prompt chan struct{} // asks the refresher for a reload now
	stop   chan struct{}
	wg     sync.WaitGroup
	next   atomic.Uint32 // round robin of keyless commands

	scripts scriptBodies // bodies of the scripts loaded or run through the gateway, by SHA1

	watchers []func()               // OnChange functions; guarded by mu
	replIDs  map[string]replIDEntry // primaries' replication IDs, by address; guarded by mu

	moved, asked, tryAgain, reloaded, replicaReads, replicaFallbacks atomic.Uint64
	lagged, tokenPrimary                                             atomic.Uint64
	noShards                                                         atomic.Bool // a node refused CLUSTER SHARDS: CLUSTER SLOTS from then on
}

// Stats counts the redirections a Cluster followed.
type Stats struct {
	Moved, Asked, TryAgain uint64
	// ScriptsLoaded counts scripts loaded again on a node that answered NOSCRIPT.
	ScriptsLoaded uint64
	// ReplicaReads counts batches a replica answered; ReplicaFallbacks those sent to the
	// primary because the replica failed.
	ReplicaReads, ReplicaFallbacks uint64
	// Lagged counts reads whose sync token's write the replica asked had not reached (the
	// primary answered them); TokenPrimary those whose token named no current primary of
	// their shard (sent to the primary without asking a replica).
	Lagged, TokenPrimary uint64
}

// Stats returns the redirections followed so far.
func (c *Cluster) Stats() Stats {
	return Stats{Moved: c.moved.Load(), Asked: c.asked.Load(), TryAgain: c.tryAgain.Load(), ScriptsLoaded: c.reloaded.Load(),
		ReplicaReads: c.replicaReads.Load(), ReplicaFallbacks: c.replicaFallbacks.Load(),
		Lagged: c.lagged.Load(), TokenPrimary: c.tokenPrimary.Load()}
}

// topology is one slot map.
type topology struct {
	owner    []uint16   // per slot, 1 + the index in addrs of its primary; 0 when unassigned
	addrs    []string   // the primaries
	replicas [][]string // replicas[i]: the replicas of addrs[i]
}

// addr returns the primary of slot, or "" when the slot has none.
func (t *topology) addr(slot int) string {
	if i := t.owner[slot]; i > 0 {
		return t.addrs[i-1]
	}
	return ""
}

// New loads the slot map from the seeds and returns the Cluster, whose refresher runs until Close.
func New(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Refresh <= 0 {
		opts.Refresh = 5 * time.Second
	}
	if opts.MaxRedirects <= 0 {
		opts.MaxRedirects = 5
	}
	if opts.BlockingSize <= 0 {
		opts.BlockingSize = 8
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	opts.Node.DB = 0
	c := &Cluster{opts: opts, pools: map[string]*pool.Pool{}, blocking: map[string]*pool.Dedicated{}, readers: map[string]*pool.Pool{}, replIDs: map[string]replIDEntry{}, prompt: make(chan struct{}, 1), stop: make(chan struct{})}
	t, err := c.load(ctx, opts.Seeds)
	if err != nil {
		return nil, err
	}
	c.topo.Store(t)
	c.wg.Add(1)
	go c.refresher()
	return c, nil
}

// Close stops the refresher and closes every pool.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.shut {
		c.mu.Unlock()
		return nil
	}
	c.shut = true
	pools, blocking := c.pools, c.blocking
	for a, p := range c.readers {
		pools[a+" (replica)"] = p
	}
	c.pools, c.blocking, c.readers = nil, nil, nil
	c.mu.Unlock()
	close(c.stop)
	c.wg.Wait()
	for _, p := range pools {
		p.Close()
	}
	for _, d := range blocking {
		d.Close()
	}
	return nil
}

// Primaries returns the addresses of the primaries of the current slot map.
func (c *Cluster) Primaries() []string {
	return append([]string(nil), c.topo.Load().addrs...)
}

// Refresh reloads the slot map now.
func (c *Cluster) Refresh(ctx context.Context) error {
	t, err := c.load(ctx, append(c.topo.Load().addrs, c.opts.Seeds...))
	if err != nil {
		return err
	}
	c.install(t)
	return nil
}

// reload asks the refresher for a reload without waiting for it.
func (c *Cluster) reload() {
	select {
	case c.prompt <- struct{}{}:
	default:
	}
}

func (c *Cluster) refresher() {
	defer c.wg.Done()
	tick := time.NewTicker(c.opts.Refresh)
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		case <-c.prompt:
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.Node.DialTimeout+2*time.Second)
		if err := c.Refresh(ctx); err != nil {
			c.opts.Logger.Warn("cluster: slot map not refreshed", "err", err)
		}
		if c.opts.ReplicaReads {
			c.learnReplIDs(ctx)
		}
		cancel()
	}
}

// install makes t the slot map and closes the pools of nodes that are no longer primaries.
func (c *Cluster) install(t *topology) {
	old := c.topo.Swap(t)
	if old != nil && !sameAddrs(old.addrs, t.addrs) {
		c.opts.Logger.Info("cluster: primaries changed", "primaries", t.addrs)
	}
	if old != nil && !sameOwners(old, t) {
		c.changed()
	}
	keep := map[string]bool{}
	for _, a := range t.addrs {
		keep[a] = true
	}
	c.mu.Lock()
	var gone []interface{ Close() error }
	for a, p := range c.pools {
		if !keep[a] {
			gone = append(gone, p)
			delete(c.pools, a)
		}
	}
	for a, d := range c.blocking {
		if !keep[a] {
			gone = append(gone, d)
			delete(c.blocking, a)
		}
	}
	replicas := map[string]bool{}
	for _, rs := range t.replicas {
		for _, a := range rs {
			replicas[a] = true
		}
	}
	for a, p := range c.readers {
		if !replicas[a] {
			gone = append(gone, p)
			delete(c.readers, a)
		}
	}
	c.mu.Unlock()
	for _, p := range gone {
		p.Close()
	}
}

func sameAddrs(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// pool returns the pool of the primary at addr, opening it on first use.
func (c *Cluster) pool(addr string) (*pool.Pool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shut {
		return nil, pool.ErrClosed
	}
	if p := c.pools[addr]; p != nil {
		return p, nil
	}
	o := c.opts.Node
	o.Addr = addr
	p := pool.New(o)
	c.pools[addr] = p
	return p, nil
}

// reader returns the READONLY pool of the replica at addr, opening it on first use.
func (c *Cluster) reader(addr string) (*pool.Pool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shut {
		return nil, pool.ErrClosed
	}
	if p := c.readers[addr]; p != nil {
		return p, nil
	}
	o := c.opts.Node
	o.Addr, o.AckReplicas = addr, 0
	o.Hello = append(append([][]string(nil), o.Hello...), []string{"READONLY"})
	p := pool.New(o)
	c.readers[addr] = p
	return p, nil
}

// replicaOf returns a replica of the primary at addr, round robin, or "" when it has none.
func (c *Cluster) replicaOf(t *topology, addr string) string {
	for i, a := range t.addrs {
		if a == addr && i < len(t.replicas) && len(t.replicas[i]) > 0 {
			rs := t.replicas[i]
			return rs[int(c.next.Add(1))%len(rs)]
		}
	}
	return ""
}

// load asks the nodes at addrs in turn for CLUSTER SLOTS and returns the first full answer.
func (c *Cluster) load(ctx context.Context, addrs []string) (*topology, error) {
	var errs []error
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] {
			continue
		}
		seen[a] = true
		t, err := c.slotsOf(ctx, a)
		if err == nil {
			return t, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", a, err))
	}
	return nil, fmt.Errorf("%w: %w", ErrNoSlots, errors.Join(errs...))
}

// slotsOf reads the slot map of the node at addr.
func (c *Cluster) slotsOf(ctx context.Context, addr string) (*topology, error) {
	o := c.opts.Node
	o.Addr, o.DB = addr, 0
	o.Confine = nil // the slot map is read with the operator's credentials, not a tenant's
	if o.DialTimeout <= 0 {
		o.DialTimeout = 2 * time.Second
	}
	nc, err := pool.Dial(ctx, o)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	if d, ok := ctx.Deadline(); ok {
		nc.SetDeadline(d)
	} else {
		nc.SetDeadline(time.Now().Add(o.DialTimeout))
	}
	host, _, _ := net.SplitHostPort(addr)
	br := newReader(nc)
	if !c.noShards.Load() {
		// CLUSTER SHARDS (Redis 7) tells replicas' health; CLUSTER SLOTS where it is unknown.
		if _, err := nc.Write(resp.AppendCommand(nil, [][]byte{[]byte("CLUSTER"), []byte("SHARDS")})); err != nil {
			return nil, fmt.Errorf("CLUSTER SHARDS: %w", err)
		}
		raw, err := resp.ReadReply(br, nil, 16<<20)
		if err != nil {
			return nil, fmt.Errorf("CLUSTER SHARDS: %w", err)
		}
		if len(raw) == 0 || raw[0] != resp.Error {
			return parseShards(raw, host, o.TLS != nil)
		}
		c.noShards.Store(true)
	}
	if _, err := nc.Write(resp.AppendCommand(nil, [][]byte{[]byte("CLUSTER"), []byte("SLOTS")})); err != nil {
		return nil, fmt.Errorf("CLUSTER SLOTS: %w", err)
	}
	raw, err := resp.ReadReply(br, nil, 16<<20)
	if err != nil {
		return nil, fmt.Errorf("CLUSTER SLOTS: %w", err)
	}
	return parseSlots(raw, host)
}

// parseSlots reads a CLUSTER SLOTS reply; an empty node IP stands for host, the node asked.
func parseSlots(raw []byte, host string) (*topology, error) {
	v, err := decode(raw)
	if err != nil {
		return nil, fmt.Errorf("CLUSTER SLOTS: %w", err)
	}
	ranges, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("CLUSTER SLOTS: unexpected reply %q", truncate(raw))
	}
	t := &topology{owner: make([]uint16, Slots)}
	index := map[string]uint16{}
	for _, r := range ranges {
		f, ok := r.([]any)
		if !ok || len(f) < 3 {
			return nil, fmt.Errorf("CLUSTER SLOTS: bad range %v", r)
		}
		lo, ok1 := f[0].(int64)
		hi, ok2 := f[1].(int64)
		node, ok3 := f[2].([]any)
		if !ok1 || !ok2 || !ok3 || len(node) < 2 || lo < 0 || hi >= Slots || lo > hi {
			return nil, fmt.Errorf("CLUSTER SLOTS: bad range %v", r)
		}
		a := nodeAddr(node, host)
		i, ok := index[a]
		if !ok {
			t.addrs = append(t.addrs, a)
			i = uint16(len(t.addrs))
			index[a] = i
			var reps []string
			for _, r := range f[3:] {
				if rn, ok := r.([]any); ok && len(rn) >= 2 {
					reps = append(reps, nodeAddr(rn, host))
				}
			}
			t.replicas = append(t.replicas, reps)
		}
		for s := lo; s <= hi; s++ {
			t.owner[s] = i
		}
	}
	if len(t.addrs) == 0 {
		return nil, errors.New("CLUSTER SLOTS: no slot assigned")
	}
	return t, nil
}

// nodeAddr returns the host:port of a node of a CLUSTER SLOTS reply; an empty or unknown IP
// stands for host, the node asked.
func nodeAddr(node []any, host string) string {
	ip, _ := node[0].(string)
	port, _ := node[1].(int64)
	if ip == "" || ip == "?" {
		ip = host
	}
	return net.JoinHostPort(ip, strconv.FormatInt(port, 10))
}

// unit is one command as sent to one node: a command of the batch, or one slot's part of a
// multi-key command split across slots.
type unit struct {
	args  [][]byte
	slot  int    // -1 for a keyless command
	node  string // when set, the node it goes to whatever its slot (a command for every primary)
	sent  string // the node that gave reply
	reply []byte // its raw reply, owned
	err   error  // a failure to get a reply (the node, not Redis, failed)
}

// part says how one command of the batch is answered.
type part struct {
	units []int  // indexes of its units; none when answered without Redis
	reply []byte // the answer when it has no units (CROSSSLOT, a bad numkeys)
	merge merger // how several units' replies make its reply
	keyAt []int  // for MGET: the unit holding each key of the command, in order

	scanAt, scanOf int // for SCAN: the index of the node scanned, of how many

	known []bool // for SCRIPT EXISTS: whether the Cluster keeps each script's body
}

// Do sends the commands of b to the primaries of their slots and answers b with their replies
// in order, as pool.Pool.Do would for one node.
func (c *Cluster) Do(ctx context.Context, b *pool.Batch) error {
	_, err := c.do(ctx, b, Request{})
	return err
}

// do is Do as req asks (see DoAt).
func (c *Cluster) do(ctx context.Context, b *pool.Batch, req Request) (Position, error) {
	cmds, err := b.Commands()
	if err != nil {
		return Position{}, err
	}
	if isTransaction(cmds) {
		return c.wrote(req, cmds), c.doTransaction(ctx, b, cmds)
	}
	units := make([]unit, 0, len(cmds)) // one per command, more only for splits and fan-outs
	parts := make([]part, len(cmds))
	t := c.topo.Load()
	for i, args := range cmds {
		c.scripts.learn(args)
		parts[i], units = c.plan(t, args, units)
	}
	if addr, ok := c.oneNode(t, parts, units); ok {
		reads := onlyReads(cmds)
		if c.opts.ReplicaReads && reads && !req.Primary {
			if done, err := c.replicaRead(ctx, b, t, addr, parts, units, req.After); done {
				return req.After, err
			}
		}
		if c.opts.ReplicaReads && !reads {
			return c.directWrite(ctx, b, addr, parts, units)
		}
		return req.After, c.direct(ctx, b, addr, parts, units, false)
	}
	c.run(ctx, units)
	if err := c.tooLarge(units); err != nil {
		return Position{}, err
	}
	replies := make([][]byte, len(cmds))
	for i, p := range parts {
		if len(p.units) == 0 {
			replies[i] = p.reply
			continue
		}
		for _, u := range p.units {
			if units[u].err != nil {
				return Position{}, units[u].err
			}
		}
		replies[i] = p.answer(units)
	}
	b.Answer(replies)
	return c.wrote(req, cmds), nil
}

// tooLarge fails a batch split over several nodes whose replies together pass the Node
// options' MaxResponse: each node's pool bounds only its own part, so a fan-out (KEYS on every
// primary) or a split pipeline could otherwise answer as many times the bound as there are
// primaries.
func (c *Cluster) tooLarge(units []unit) error {
	limit := c.opts.Node.MaxResponse
	if limit <= 0 {
		limit = 64 << 20 // pool.Options' default
	}
	total := 0
	for i := range units {
		total += len(units[i].reply)
	}
	if total > limit {
		return fmt.Errorf("%w: the replies of the batch's nodes passed %d bytes", pool.ErrTooLarge, limit)
	}
	return nil
}

// oneNode reports whether every command of a batch is one unit for the same primary (keyless
// ones going anywhere), the primary's address, so that the batch itself can be sent there.
func (c *Cluster) oneNode(t *topology, parts []part, units []unit) (string, bool) {
	if len(units) != len(parts) {
		return "", false
	}
	addr := ""
	for i := range parts {
		if parts[i].merge != mergeOne || len(parts[i].units) != 1 || units[i].node != "" {
			return "", false
		}
		if units[i].slot < 0 {
			continue
		}
		a := t.addr(units[i].slot)
		if a == "" || addr != "" && a != addr {
			return "", false
		}
		addr = a
	}
	if addr == "" {
		addr = c.route(t, -1)
	}
	return addr, true
}

// direct sends b itself to the primary at addr, then follows the redirections among its
// replies, if any, command by command.
func (c *Cluster) direct(ctx context.Context, b *pool.Batch, addr string, parts []part, units []unit, replica bool) error {
	get := c.pool
	if replica {
		get = c.reader
	}
	p, err := get(addr)
	if err != nil {
		return err
	}
	if err := p.Do(ctx, b); err != nil {
		var down *pool.UnavailableError
		if errors.As(err, &down) || errors.Is(err, pool.ErrBroken) || errors.Is(err, pool.ErrClosed) {
			c.reload()
		}
		return err
	}
	_, err = c.redirects(ctx, b, addr, parts, units)
	return err
}

// redirects follows the redirections among the replies the node at addr gave to b, if any,
// command by command, and reports whether there were some.
func (c *Cluster) redirects(ctx context.Context, b *pool.Batch, addr string, parts []part, units []unit) (bool, error) {
	redirected := false
	for i := range units {
		if r := b.Reply(i); len(r) > 0 && r[0] == resp.Error && followed(r, units[i].args) {
			redirected = true
			break
		}
	}
	if !redirected {
		return false, nil
	}
	replies := make([][]byte, len(units))
	for i := range units {
		units[i].reply, units[i].sent = append([]byte(nil), b.Reply(i)...), addr
	}
	for i := range units {
		c.follow(ctx, &units[i])
		if units[i].err != nil {
			return true, units[i].err
		}
		replies[i] = parts[i].answer(units)
	}
	b.Answer(replies)
	return true, nil
}

// onlyReads reports whether no command of cmds writes, so that a replica may run them all.
func onlyReads(cmds [][][]byte) bool {
	for _, args := range cmds {
		if info := command.Lookup(args); !info.NoWrite || info.Kind != command.Normal {
			return false
		}
	}
	return true
}

// followed reports whether the error reply r to args is one follow acts on.
func followed(r []byte, args [][]byte) bool {
	msg := r[1:]
	return bytes.HasPrefix(msg, []byte("MOVED ")) || bytes.HasPrefix(msg, []byte("ASK ")) ||
		bytes.HasPrefix(msg, []byte("TRYAGAIN")) || bytes.HasPrefix(msg, []byte("NOSCRIPT")) && isEvalSHA(args)
}

// run gets the replies of units: one batch per primary, concurrently, then the redirected
// units again, one by one in order.
func (c *Cluster) run(ctx context.Context, units []unit) {
	t := c.topo.Load()
	groups := map[string][]int{}
	var order []string
	for i := range units {
		a := units[i].node
		if a == "" {
			a = c.route(t, units[i].slot)
		}
		if _, ok := groups[a]; !ok {
			order = append(order, a)
		}
		groups[a] = append(groups[a], i)
	}
	var wg sync.WaitGroup
	for _, a := range order {
		idx := groups[a]
		if len(order) == 1 {
			c.send(ctx, a, units, idx, false)
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.send(ctx, a, units, idx, false)
		}()
	}
	wg.Wait()
	for i := range units {
		c.follow(ctx, &units[i])
	}
}

// route returns the node a unit of slot goes to: its primary, or any primary for a keyless
// command or an unassigned slot (which then answers CLUSTERDOWN or MOVED).
func (c *Cluster) route(t *topology, slot int) string {
	if slot >= 0 {
		if a := t.addr(slot); a != "" {
			return a
		}
	}
	return t.addrs[int(c.next.Add(1))%len(t.addrs)]
}

// send runs units idx as one batch on the node at addr; asking prefixes each with ASKING.
func (c *Cluster) send(ctx context.Context, addr string, units []unit, idx []int, asking bool) {
	fail := func(err error) {
		for _, i := range idx {
			units[i].reply, units[i].err = nil, err
		}
	}
	p, err := c.pool(addr)
	if err != nil {
		fail(err)
		return
	}
	n := len(idx)
	if asking {
		n *= 2
	}
	b := pool.NewBatch(n)
	for _, i := range idx {
		if asking {
			b.Add([]byte("ASKING"))
		}
		b.Add(units[i].args...)
	}
	if err := p.Do(ctx, b); err != nil {
		var down *pool.UnavailableError
		if errors.As(err, &down) || errors.Is(err, pool.ErrBroken) || errors.Is(err, pool.ErrClosed) {
			c.reload()
		}
		fail(err)
		return
	}
	for j, i := range idx {
		r := j
		if asking {
			r = 2*j + 1
		}
		units[i].reply, units[i].err, units[i].sent = append([]byte(nil), b.Reply(r)...), nil, addr
	}
	b.Release()
}

// follow resends u while its reply is a redirection (MOVED, ASK) or TRYAGAIN, up to
// MaxRedirects times.
func (c *Cluster) follow(ctx context.Context, u *unit) {
	backoff := 10 * time.Millisecond
	for range c.opts.MaxRedirects {
		if u.err != nil || len(u.reply) == 0 || u.reply[0] != resp.Error {
			return
		}
		msg := u.reply[1 : len(u.reply)-2]
		one := []unit{*u}
		switch {
		case bytes.HasPrefix(msg, []byte("MOVED ")):
			slot, addr, ok := redirect(msg)
			if !ok {
				return
			}
			c.moved.Add(1)
			c.learn(slot, addr)
			c.send(ctx, addr, one, []int{0}, false)
		case bytes.HasPrefix(msg, []byte("ASK ")):
			_, addr, ok := redirect(msg)
			if !ok {
				return
			}
			c.asked.Add(1)
			c.send(ctx, addr, one, []int{0}, true)
		case bytes.HasPrefix(msg, []byte("NOSCRIPT")) && isEvalSHA(u.args):
			// The node has not seen the script (a new primary, a failover, SCRIPT FLUSH on
			// one node): load it there if its body went through this gateway, and run again.
			body, ok := c.scripts.body(u.args[1])
			if !ok {
				return
			}
			load := []unit{{args: [][]byte{[]byte("SCRIPT"), []byte("LOAD"), body}, slot: -1}}
			c.send(ctx, u.sent, load, []int{0}, false)
			if load[0].err != nil || len(load[0].reply) == 0 || load[0].reply[0] == resp.Error {
				return
			}
			c.reloaded.Add(1)
			c.send(ctx, u.sent, one, []int{0}, false)
		case bytes.HasPrefix(msg, []byte("TRYAGAIN")):
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 200*time.Millisecond)
			c.tryAgain.Add(1)
			c.send(ctx, c.route(c.topo.Load(), u.slot), one, []int{0}, false)
		default:
			return
		}
		*u = one[0]
	}
}

// learn records that slot is served by addr and asks for a reload of the whole map.
func (c *Cluster) learn(slot int, addr string) {
	for {
		t := c.topo.Load()
		if t.addr(slot) == addr {
			break
		}
		n := &topology{owner: append([]uint16(nil), t.owner...), addrs: t.addrs}
		i := -1
		for j, a := range t.addrs {
			if a == addr {
				i = j
			}
		}
		if i < 0 {
			n.addrs = append(append([]string(nil), t.addrs...), addr)
			i = len(n.addrs) - 1
		}
		n.owner[slot] = uint16(i + 1)
		if c.topo.CompareAndSwap(t, n) {
			c.changed()
			break
		}
	}
	c.reload()
}

// redirect parses "MOVED slot host:port" or "ASK slot host:port".
func redirect(msg []byte) (int, string, bool) {
	f := bytes.Fields(msg)
	if len(f) != 3 {
		return 0, "", false
	}
	slot, err := strconv.Atoi(string(f[1]))
	if err != nil || slot < 0 || slot >= Slots {
		return 0, "", false
	}
	return slot, string(f[2]), true
}

// crossSlot is Redis Cluster's answer to a command whose keys are in several slots.
var crossSlot = []byte("-CROSSSLOT Keys in request don't hash to the same slot\r\n")

// plan appends the units of the command args to units and returns how it is answered.
func (c *Cluster) plan(t *topology, args [][]byte, units []unit) (part, []unit) {
	var buf [8]int // the key positions of most commands, without an allocation
	idx, err := command.KeyIndexes(args, buf[:0])
	if err != nil {
		return part{reply: resp.AppendError(nil, err.Error())}, units
	}
	if len(idx) == 0 {
		if m, ok := fanOut(args); ok {
			p, units := everyPrimary(t, args, m, units)
			if m == mergeAnd {
				p.known = c.scripts.known(args[2:])
			}
			return p, units
		}
		if eq(args[0], "SCAN") {
			return scan(t, args, 1, units)
		}
		if at, ok := command.ScanTypesCursor(args); ok {
			return scan(t, args, at, units)
		}
		return part{units: []int{len(units)}}, append(units, unit{args: args, slot: -1})
	}
	slot := Slot(args[idx[0]])
	same := true
	for _, i := range idx[1:] {
		if Slot(args[i]) != slot {
			same = false
			break
		}
	}
	if same {
		return part{units: []int{len(units)}}, append(units, unit{args: args, slot: slot})
	}
	return split(args, units)
}

// isTransaction reports whether the batch is MULTI … EXEC.
func isTransaction(cmds [][][]byte) bool {
	return len(cmds) >= 2 && bytes.EqualFold(cmds[0][0], []byte("MULTI")) && bytes.EqualFold(cmds[len(cmds)-1][0], []byte("EXEC"))
}

// doTransaction sends the transaction cmds whole to the primary of its keys' slot, following a
// MOVED (the transaction then aborted without running) by sending it again.
func (c *Cluster) doTransaction(ctx context.Context, b *pool.Batch, cmds [][][]byte) error {
	slot := -1
	for _, args := range cmds[1 : len(cmds)-1] {
		idx, err := command.KeyIndexes(args, nil)
		if err != nil {
			return c.abort(b, cmds, args, resp.AppendError(nil, err.Error()))
		}
		for _, i := range idx {
			s := Slot(args[i])
			if slot >= 0 && s != slot {
				return c.abort(b, cmds, args, crossSlot)
			}
			slot = s
		}
	}
	for range c.opts.MaxRedirects {
		t := c.topo.Load()
		addr := c.route(t, slot)
		p, err := c.pool(addr)
		if err != nil {
			return err
		}
		tx := pool.NewBatch(len(cmds))
		for _, args := range cmds {
			tx.Add(args...)
		}
		if err := p.Do(ctx, tx); err != nil {
			c.reload()
			return err
		}
		replies := make([][]byte, len(cmds))
		var moved []byte
		for i := range cmds {
			replies[i] = append([]byte(nil), tx.Reply(i)...)
			if r := replies[i]; len(r) > 7 && bytes.HasPrefix(r, []byte("-MOVED ")) {
				moved = r[1 : len(r)-2]
			}
		}
		tx.Release()
		last := replies[len(replies)-1]
		if moved != nil && bytes.HasPrefix(last, []byte("-EXECABORT")) {
			if s, a, ok := redirect(moved); ok {
				c.moved.Add(1)
				c.learn(s, a)
				continue
			}
		}
		b.Answer(replies)
		return nil
	}
	return fmt.Errorf("cluster: transaction redirected more than %d times", c.opts.MaxRedirects)
}

// abort answers the transaction cmds without sending it, as Redis Cluster answers one in which
// the command bad is refused with reply: MULTI OK, QUEUED for the others, EXECABORT.
func (c *Cluster) abort(b *pool.Batch, cmds [][][]byte, bad [][]byte, reply []byte) error {
	replies := make([][]byte, len(cmds))
	replies[0] = []byte("+OK\r\n")
	for i, args := range cmds[1 : len(cmds)-1] {
		replies[i+1] = []byte("+QUEUED\r\n")
		if &args[0] == &bad[0] {
			replies[i+1] = reply
		}
	}
	replies[len(cmds)-1] = []byte("-EXECABORT Transaction discarded because of previous errors.\r\n")
	b.Answer(replies)
	return nil
}

func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// NodeStats is what a Cluster reports of one node it has connections to.
type NodeStats struct {
	// Addr is the node's host:port; Primary is set for a primary, clear for a replica read from.
	Addr    string
	Primary bool
	// Pool sums the node's multiplexed connections.
	Pool pool.Stats
	// Blocking is the number of dedicated connections open to it.
	Blocking int
}

// Nodes reports every node of the slot map, primaries first in address order, then the
// replicas it reads from.
func (c *Cluster) Nodes() []NodeStats {
	t := c.topo.Load()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []NodeStats
	for _, a := range primaries(t) {
		st := NodeStats{Addr: a, Primary: true}
		if p := c.pools[a]; p != nil {
			st.Pool = p.Stats()
		}
		if d := c.blocking[a]; d != nil {
			st.Blocking = d.Open()
		}
		out = append(out, st)
	}
	for a, p := range c.readers {
		out = append(out, NodeStats{Addr: a, Pool: p.Stats()})
	}
	return out
}

// Ready reports whether every primary of the slot map has a connection up (a primary not yet
// used is dialled on first use and counts as ready).
func (c *Cluster) Ready() bool {
	t := c.topo.Load()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range t.addrs {
		if p := c.pools[a]; p != nil && p.Connected() == 0 {
			return false
		}
	}
	return len(t.addrs) > 0
}
