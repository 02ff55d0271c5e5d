// Package cache caches reads for the gateway: Edge describes the HTTP caching headers of
// GET answers (Cache-Control, ETag, 304 Not Modified), and Cache keeps hot read replies in
// the gateway, evicted by Redis itself through server-assisted client-side caching.
//
// A Cache fills itself only through its own connections, on which CLIENT TRACKING is on
// (default mode, not BCAST) and redirected to one more connection subscribed to
// __redis__:invalidate. Redis then remembers every key those connections read and, when any
// client writes one (through this gateway, another one, or straight to Redis), when it
// expires or is evicted, or on FLUSHALL/FLUSHDB, publishes its name there; the Cache drops
// the entries reading it. Losing the invalidation connection, or a tracked connection,
// flushes the whole cache, and the cache stays off (Get answers ErrOff) until a new
// invalidation connection is subscribed and the tracked connections redirect to it.
//
// A fill can race with an invalidation: Redis may run the read, then a write, then send the
// invalidation, which the Cache applies before the read's reply is stored. Each fill
// therefore remembers, before its command is sent, an epoch that every flush advances and a
// counter, one of 4096, that every invalidation of a key hashed onto it advances; the reply
// is kept only if both are unchanged when it arrives.
//
// An invalidation travels from Redis to the gateway like any reply, so a read served in the
// microseconds between a write elsewhere and the arrival of its invalidation returns the
// value before the write. Sync closes that window for writes made through the gateway
// itself: they are answered only once their invalidations have arrived; Options.Strict
// closes it for every write, at the cost of a round trip per hit.
//
// On a Redis Cluster (Options.Cluster) the Cache keeps one invalidation connection and its
// tracked connections per primary: a fill goes to the tracked connections of the primary of
// its key's slot, each primary's invalidations drop the entries it reported, and every entry
// remembers the primary it was read from. Any change of the slot map (a slot moved, a
// failover, a primary added or removed), like the loss of any invalidation or tracked
// connection, flushes the whole cache; a hit is served only while its key's slot is still
// served by the primary the entry was read from, and a fill answered with a redirection
// (MOVED, ASK, TRYAGAIN, CLUSTERDOWN) is not kept: the caller runs the read elsewhere.
package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redisgate/redisgate/command"
	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/resp"
)

// ErrOff reports that the cache is off because its invalidation connection is not up.
var ErrOff = errors.New("cache: off until invalidation is back")

// ErrNotCacheable reports a command whose reply the cache does not keep.
var ErrNotCacheable = errors.New("cache: command not cacheable")

const (
	minBackoff = 25 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// Options configures a Cache.
type Options struct {
	// Redis says how to reach Redis (see pool.ParseURL). Size is the number of tracked
	// connections that fill the cache (default 2). Connections are named
	// ClientName+"-cache" and ClientName+"-invalidate".
	Redis pool.Options
	// MaxBytes bounds the memory of the entries (default 64 MiB); an entry larger than a
	// sixteenth of it is not kept.
	MaxBytes int
	// MaxTTL bounds how long an entry is kept (default 1 min); a key with a shorter time
	// to live bounds its entries to it.
	MaxTTL time.Duration
	// PingInterval is how often the invalidation connection is checked with PING (default 1 s).
	PingInterval time.Duration
	// Timeout bounds connecting, the answer to each PING, and Sync (default 1 s). An
	// invalidation connection silent for PingInterval+Timeout is dropped, which flushes the cache.
	Timeout time.Duration
	// Strict makes every Get wait, before it looks at the entries, until the invalidations
	// Redis sent before the call have arrived (one PING on the invalidation connection,
	// shared by concurrent calls): no read then misses a write acknowledged before it began,
	// wherever it was made, at the cost of a round trip to Redis per hit.
	Strict bool
	// Position, when set, returns the server's replication offset, as recently learned
	// (a replica set's leader's, probed); Covers then tells which writes the cache has seen.
	Position func() int64
	// Cluster, when set, makes the cache serve a Redis Cluster: Redis.Addr and Resolve are
	// then ignored, and each primary Cluster names gets its own connections (see the package
	// doc). Size is then the number of tracked connections per primary.
	Cluster Topology
	// Logger receives state changes (default slog.Default()).
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.Redis.Size <= 0 {
		o.Redis.Size = 2
	}
	if o.Redis.ClientName == "" {
		o.Redis.ClientName = "redisgate"
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 64 << 20
	}
	if o.MaxTTL <= 0 {
		o.MaxTTL = time.Minute
	}
	if o.PingInterval <= 0 {
		o.PingInterval = time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Redis.Logger == nil {
		o.Redis.Logger = o.Logger
	}
}

// Stats counts what a Cache did since it was made.
type Stats struct {
	// Hits and Misses count Get calls answered from an entry and by running the command.
	Hits, Misses int64
	// Evictions counts entries dropped to stay within MaxBytes.
	Evictions int64
	// Invalidations counts keys Redis reported written (each drops the entries reading it).
	Invalidations int64
	// Flushes counts times every entry was dropped: a connection lost, FLUSHALL, a failed Sync.
	Flushes int64
	// Dropped counts fill replies not kept because an invalidation or flush overtook them.
	Dropped int64
	// Coalesced counts misses answered by the fill another Get of the same command was
	// running (they are among Misses): a hot key sends one read to Redis, not one per client.
	Coalesced int64
	// Entries and Bytes are what the cache holds now.
	Entries, Bytes int
	// On reports whether the cache serves and fills entries now.
	On bool
}

// Topology is what a Cache on a Redis Cluster needs of its slot map (a *cluster.Cluster has it).
type Topology interface {
	// Owner returns the address of the primary serving key's slot, "" when none does.
	Owner(key []byte) string
	// Primaries returns the addresses of the primaries.
	Primaries() []string
	// OnChange has f called, synchronously, each time a slot changes primary or the set of
	// primaries changes.
	OnChange(f func())
}

// generation is one subscribed invalidation connection and the tracked connections that redirect to it.
type generation struct {
	addr string // the primary both reach, on a Cluster; "" otherwise
	pool *pool.Pool
	inv  *inval
}

// ErrRedirected reports a fill on a Cluster that a node answered with a redirection: the
// slot map has changed, and the read is to be run the usual way, which follows it.
var ErrRedirected = errors.New("cache: fill redirected by the cluster")

// Cache keeps read replies of one database until Redis reports their keys written.
type Cache struct {
	opts  Options
	gen   atomic.Pointer[generation] // nil while the cache is off; unused on a Cluster
	epoch atomic.Uint64              // advanced by Redial

	// On a Cluster: the live generation of each primary, replaced whole under gmu.
	gens   atomic.Pointer[map[string]*generation]
	gmu    sync.Mutex
	change chan struct{} // wakes the supervisor: the slot map changed

	mu      sync.Mutex
	st      *store
	fills   map[string]*fill // fills running, by command
	coalesc int64            // misses answered by a fill already running

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// New returns a Cache and starts connecting in the background; it is off until its
// invalidation connection is subscribed.
func New(opts Options) *Cache {
	opts.setDefaults()
	c := &Cache{opts: opts, st: newStore(opts.MaxBytes), fills: map[string]*fill{}, change: make(chan struct{}, 1)}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wg.Add(1)
	if opts.Cluster != nil {
		c.gens.Store(&map[string]*generation{})
		opts.Cluster.OnChange(c.topologyChanged)
		go c.supervise()
		return c
	}
	go c.run(c.ctx, "")
	return c
}

// Close turns the cache off, closes its connections and waits for its goroutines.
func (c *Cache) Close() error {
	c.once.Do(c.cancel)
	c.wg.Wait()
	return nil
}

// On reports whether the cache serves and fills entries now (on a Cluster: for the keys of
// every primary).
func (c *Cache) On() bool {
	if c.opts.Cluster == nil {
		return c.gen.Load() != nil
	}
	gens := *c.gens.Load()
	ps := c.opts.Cluster.Primaries()
	for _, a := range ps {
		if gens[a] == nil {
			return false
		}
	}
	return len(ps) > 0
}

// Covers reports whether the invalidations of every write up to offset in the server's
// replication stream have been applied (see Options.Position): entries then reflect them.
// Sync makes it true of every write acknowledged before it was called.
func (c *Cache) Covers(offset int64) bool {
	g := c.gen.Load()
	return g != nil && g.inv.position != nil && g.inv.covered.Load() >= offset
}

// Redial flushes the cache and drops its connections, so that it connects again at the
// address Options.Redis.Resolve names then (a replica set's new leader, say).
func (c *Cache) Redial() {
	c.epoch.Add(1)
	if g := c.gen.Load(); g != nil {
		g.inv.close()
	}
	if c.opts.Cluster != nil {
		for _, g := range *c.gens.Load() {
			g.inv.close()
		}
	}
}

// genFor returns the generation that fills and invalidates key, nil when it is off.
func (c *Cache) genFor(key []byte) *generation {
	if c.opts.Cluster == nil {
		return c.gen.Load()
	}
	a := c.opts.Cluster.Owner(key)
	if a == "" {
		return nil
	}
	return (*c.gens.Load())[a]
}

// live reports whether g is still the generation of its server.
func (c *Cache) live(g *generation) bool {
	if c.opts.Cluster == nil {
		return c.gen.Load() == g
	}
	return (*c.gens.Load())[g.addr] == g
}

// setGen makes g (nil: none) the generation of the server at addr.
func (c *Cache) setGen(addr string, g *generation) {
	if c.opts.Cluster == nil {
		c.gen.Store(g)
		return
	}
	c.gmu.Lock()
	defer c.gmu.Unlock()
	old := *c.gens.Load()
	n := make(map[string]*generation, len(old)+1)
	for a, x := range old {
		if a != addr {
			n[a] = x
		}
	}
	if g != nil {
		n[addr] = g
	}
	c.gens.Store(&n)
}

// Stats returns the cache's counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.st
	return Stats{
		Hits: s.hits, Misses: s.misses, Evictions: s.evictions, Invalidations: s.invalidations,
		Flushes: s.flushes, Dropped: s.dropped, Coalesced: c.coalesc, Entries: len(s.entries), Bytes: s.bytes, On: c.On(),
	}
}

// Get returns the reply of the read command args, from an entry when one is live, and
// otherwise by running args on the cache's tracked connections and keeping the reply (error
// replies are not kept). It fails with ErrNotCacheable for commands Cacheable refuses, with
// ErrOff while the cache is off, and with the pool's errors when args could not run; the
// caller may then run args elsewhere. raw is shared: it must not be modified.
func (c *Cache) Get(ctx context.Context, args [][]byte) (raw []byte, hit bool, err error) {
	raw, _, hit, err = c.get(ctx, args, -1)
	return raw, hit, err
}

// Forms is how many things made of its reply (encodings of it) an entry keeps for callers.
const Forms = 3

// GetForm is Get that, on a hit, also returns what Keep stored as form (0 to Forms-1) with
// the entry, or nil. It is shared too: callers must not change it.
func (c *Cache) GetForm(ctx context.Context, args [][]byte, form int) (raw []byte, v any, hit bool, err error) {
	return c.get(ctx, args, form)
}

// Keep stores v, something the caller made of the reply raw that Get or GetForm returned for
// args (an encoding of it, say), as form (0 to Forms-1) of the entry of args if it still holds
// that reply, so that later hits return it. size, its bytes, counts against MaxBytes; v must
// not be changed afterwards (except through its own synchronisation).
func (c *Cache) Keep(args [][]byte, form int, raw []byte, v any, size int) {
	if form < 0 || form >= Forms || len(raw) == 0 || v == nil || !Cacheable(args) {
		return
	}
	var buf [128]byte
	cmd := appendKey(buf[:0], args)
	c.mu.Lock()
	c.st.attach(cmd, form, raw, v, size)
	c.mu.Unlock()
}

func (c *Cache) get(ctx context.Context, args [][]byte, form int) (raw []byte, v any, hit bool, err error) {
	if !Cacheable(args) {
		return nil, nil, false, ErrNotCacheable
	}
	g := c.genFor(args[1])
	if g == nil {
		return nil, nil, false, ErrOff
	}
	if c.opts.Strict {
		if err := g.inv.sync(ctx); err != nil {
			return nil, nil, false, fmt.Errorf("%w: %w", ErrOff, err)
		}
	}
	var buf [128]byte
	cmd := appendKey(buf[:0], args)
	now := time.Now()
	c.mu.Lock()
	if e := c.st.get(cmd, now); e != nil && e.node == g.addr {
		c.st.hits++
		if form >= 0 && form < Forms {
			v = e.forms[form]
		}
		c.mu.Unlock()
		return e.raw, v, true, nil
	}
	c.st.misses++
	t := c.st.ticket(args[1])
	if f := c.fills[string(cmd)]; f != nil && f.t == t {
		// Nothing invalidated the key since that fill was sent: its reply is as fresh as an
		// entry would be.
		c.coalesc++
		c.mu.Unlock()
		select {
		case <-f.done:
			return f.raw, nil, false, f.err
		case <-ctx.Done():
			return nil, nil, false, fmt.Errorf("cache fill: %w: %w", pool.ErrTimeout, ctx.Err())
		}
	}
	f := &fill{t: t, done: make(chan struct{})}
	c.fills[string(cmd)] = f
	c.mu.Unlock()

	f.raw, f.err = c.fill(ctx, g, cmd, args, t, now)
	c.mu.Lock()
	if c.fills[string(cmd)] == f {
		delete(c.fills, string(cmd))
	}
	c.mu.Unlock()
	close(f.done)
	return f.raw, nil, false, f.err
}

// fill is a read of a missing entry, which concurrent Gets of the same command share.
type fill struct {
	t    ticket
	done chan struct{} // closed once raw and err are set
	raw  []byte
	err  error
}

// fill runs args on g's tracked connections and keeps the reply, unless t is outdated by then.
func (c *Cache) fill(ctx context.Context, g *generation, cmd []byte, args [][]byte, t ticket, now time.Time) ([]byte, error) {
	// PTTL rides along so that no entry outlives its key: an expired key is deleted (and
	// invalidated) only when Redis gets to it, which can be long after it expired.
	b := pool.NewBatch(2)
	b.Add(args...)
	b.Add([]byte("PTTL"), args[1])
	if err := g.pool.Do(ctx, b); err != nil {
		b.Release()
		return nil, fmt.Errorf("cache fill: %w", err)
	}
	raw := bytes.Clone(b.Reply(0))
	ttl := c.ttl(b.Reply(1))
	b.Release()
	if raw[0] == resp.Error && c.opts.Cluster != nil && redirection(raw) {
		return nil, fmt.Errorf("%w: %s", ErrRedirected, truncate(raw[1:]))
	}
	if raw[0] == resp.Error || ttl <= 0 {
		return raw, nil
	}
	e := &entry{cmd: string(cmd), key: string(args[1]), node: g.addr, raw: raw, expires: now.Add(ttl)}
	c.mu.Lock()
	if c.live(g) {
		c.st.put(e, t)
	} else {
		c.st.dropped++ // filled through connections whose invalidations are gone
	}
	c.mu.Unlock()
	return raw, nil
}

// ttl returns how long an entry read along with the PTTL reply raw may live.
func (c *Cache) ttl(raw []byte) time.Duration {
	kind, data, _, _, err := resp.Next(raw)
	if err != nil || kind != resp.Integer {
		return 0
	}
	ms, err := strconv.ParseInt(string(data), 10, 64)
	switch {
	case err != nil:
		return 0
	case ms < 0: // -1: no expiry; -2: no key, and creating it will invalidate
		return c.opts.MaxTTL
	}
	return min(time.Duration(ms)*time.Millisecond, c.opts.MaxTTL)
}

// Sync returns once every invalidation Redis sent before the call has been applied, so that
// a write the caller saw acknowledged is never answered from an older entry afterwards.
// When that cannot be known within Options.Timeout or ctx, it flushes the cache instead.
func (c *Cache) Sync(ctx context.Context) {
	if c.opts.Cluster != nil {
		c.syncAll(ctx)
		return
	}
	g := c.gen.Load()
	if g == nil {
		return // off: nothing is served, and the next generation starts empty
	}
	if err := g.inv.sync(ctx); err != nil {
		c.opts.Logger.Warn("read cache flushed: invalidation barrier failed", "err", err)
		c.flush()
	}
}

// Flush drops every entry.
func (c *Cache) Flush() { c.flush() }

func (c *Cache) flush() {
	c.mu.Lock()
	c.st.flush()
	c.mu.Unlock()
}

// invalidate applies one invalidation message.
func (c *Cache) invalidate(keys [][]byte, all bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if all {
		c.st.flush()
		return
	}
	for _, k := range keys {
		c.st.invalidate(k)
	}
}

// run keeps an invalidation connection and its tracked connections up until ctx ends: to
// the primary at addr on a Cluster, else where Options.Redis says.
func (c *Cache) run(ctx context.Context, addr string) {
	defer c.wg.Done()
	backoff := minBackoff
	quiet := false // a failure was logged and the cache was not on since
	for {
		on, err := c.session(ctx, addr)
		if ctx.Err() != nil {
			return
		}
		if on {
			backoff, quiet = minBackoff, false
		}
		if quiet {
			c.opts.Logger.Debug("read cache still off", "err", err, "retry_in", backoff)
		} else {
			c.opts.Logger.Warn("read cache off", "err", err, "retry_in", backoff)
		}
		quiet = true
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// session subscribes an invalidation connection, opens tracked connections redirecting to
// it, and serves until the invalidation connection fails; it leaves the cache off and empty
// and reports whether it was on.
func (c *Cache) session(ctx context.Context, addr string) (on bool, err error) {
	epoch := c.epoch.Load()
	// The invalidation connection and the tracked ones must reach the same server.
	vo := c.opts.Redis
	vo.Addr, vo.Resolve = vo.Address(), nil
	if c.opts.Cluster != nil {
		vo.Addr, vo.DB = addr, 0
	}
	vo.ClientName += "-invalidate"
	vo.DialTimeout = c.opts.Timeout
	dctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	v, err := dialInval(dctx, vo, c.opts.Timeout)
	cancel()
	if err != nil {
		return false, err
	}
	v.position = c.opts.Position
	po := vo
	po.ClientName = c.opts.Redis.ClientName + "-cache"
	po.DialTimeout = c.opts.Redis.DialTimeout
	po.Hello = [][]string{{"CLIENT", "TRACKING", "ON", "REDIRECT", v.id}}
	po.OnLost = func(err error) {
		// Redis forgets what a closed connection read: its keys would never be invalidated.
		c.opts.Logger.Warn("read cache flushed: tracked connection lost", "err", err)
		c.flush()
	}
	tracked := pool.New(po)
	// New returns once every connection was tried; one that succeeded is published just after.
	for deadline := time.Now().Add(c.opts.Timeout); tracked.Connected() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			tracked.Close()
			v.close()
			return false, errors.New("no tracked connection: CLIENT TRACKING unavailable or refused")
		}
	}
	var check func(context.Context) error
	if c.opts.Cluster != nil {
		// A primary demoted by a failover keeps its connections, and tracks the keys read on
		// them, but no longer takes its slots' writes: never fill from one.
		check = func(ctx context.Context) error { return primary(ctx, tracked) }
		rctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
		err := check(rctx)
		cancel()
		if err != nil {
			tracked.Close()
			v.close()
			return false, err
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.keepAlive(ctx, v, check, stop)
	}()
	g := &generation{addr: addr, pool: tracked, inv: v}
	c.setGen(addr, g)
	if c.epoch.Load() != epoch {
		v.close() // connected where Redial has since left
	}
	c.opts.Logger.Info("read cache on", "addr", vo.Addr, "redirect", v.id)
	err = v.read(0, c.invalidate)
	c.setGen(addr, nil)
	c.flush()
	close(stop)
	wg.Wait()
	tracked.Close()
	return true, err
}

// keepAlive pings v every PingInterval and closes it when an answer is late, check (when
// set) fails, or ctx ends.
func (c *Cache) keepAlive(ctx context.Context, v *inval, check func(context.Context) error, stop <-chan struct{}) {
	t := time.NewTicker(c.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			v.close()
			return
		case <-v.down:
			return
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
			err := v.sync(pctx)
			if err == nil && check != nil {
				if err = check(pctx); err != nil {
					c.opts.Logger.Warn("read cache flushed: a primary's role changed", "addr", v.nc.RemoteAddr().String(), "err", err)
				}
			}
			cancel()
			if err != nil {
				v.close()
				return
			}
		}
	}
}

// Cacheable reports whether Get keeps the reply of args: the command table's verdict
// (command.Cacheable): a read whose reply depends only on the key named by its first
// argument and changes only when that key is written or expires. TTL, PTTL and the like
// change without writes and are not among them.
func Cacheable(args [][]byte) bool { return command.Cacheable(args) }
