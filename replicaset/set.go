package replicaset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/resp"
)

// Options configures a Set.
type Options struct {
	// Leader and Replicas are redis:// URLs of a static topology.
	Leader   string
	Replicas []string
	// Sentinels (host:port) and MasterName discover the topology instead, and follow failovers.
	Sentinels  []string
	MasterName string
	// SentinelPassword authenticates to the Sentinels, when they require it.
	SentinelPassword string
	// Pool is the template of every node's pool; Addr is set per node, and Username,
	// Password, DB and TLS come from Leader's URL (or stay as given with Sentinels).
	Pool pool.Options
	// Mode is the default consistency (Eventual when zero).
	Mode Mode
	// AckTimeout bounds how long a strong write waits for a replica (default 1 s).
	AckTimeout time.Duration
	// StrongConns is the number of acknowledged-write connections to the leader (default 2).
	StrongConns int
	// BlockingConns is the number of dedicated connections to the leader for blocking commands; 0: none.
	BlockingConns int
	// BlockReplyTimeout is the Pool.ReplyTimeout of those connections (default Pool's):
	// it must exceed the longest block.
	BlockReplyTimeout time.Duration
	// MaxLag is how many bytes of the replication stream a replica may be behind and still serve reads (default 1 MiB).
	MaxLag int64
	// ProbeInterval is how often every node is probed (default 100 ms).
	ProbeInterval time.Duration
	// RefreshInterval is how often the Sentinels are asked for the topology (default 1 s).
	RefreshInterval time.Duration
	// Logger receives topology changes (default slog.Default()).
	Logger *slog.Logger
	// Region is the gateway's own region: among replicas equally near (see package doc),
	// those whose label is Region serve first. Empty: no preference.
	Region string
	// Regions labels nodes by host:port (as the set knows them: the address of a replica's
	// URL, or as the Sentinels name it) with their region, for Region and for status.
	Regions map[string]string
	// HedgeAfter, when positive, sends an eventual single-key read (a retry-safe command of
	// one key, by the command table) that the chosen replica has not answered after this
	// long to the next nearest node too, and takes the first answer.
	HedgeAfter time.Duration
}

func (o *Options) setDefaults() {
	if o.Mode == 0 {
		o.Mode = Eventual
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = time.Second
	}
	if o.StrongConns <= 0 {
		o.StrongConns = 2
	}
	if o.MaxLag <= 0 {
		o.MaxLag = 1 << 20
	}
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = 100 * time.Millisecond
	}
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Pool.Logger == nil {
		o.Pool.Logger = o.Logger
	}
}

// topology is the set's nodes at one moment; it is replaced, never changed.
type topology struct {
	leader   *node
	replicas []*node
}

// Set is one database served by a leader and its replicas.
type Set struct {
	opts    Options
	topo    atomic.Pointer[topology]
	next    atomic.Uint64 // rotation over equally near replicas
	refresh chan struct{} // asks the monitor to ask the Sentinels now
	stop    chan struct{}
	ctx     context.Context // ends at Close
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex // serializes topology changes
	follow  []func(leader string)
	lost    atomic.Int64
	count   counters
	written atomic.Pointer[Position] // the furthest position a write through the set reached
}

// OnLeaderChange has f called with the new leader's address each time the set moves to
// another leader, so that connections kept outside the set can follow it. f runs on the
// goroutine that changes the topology, under its lock: it must return quickly.
func (s *Set) OnLeaderChange(f func(leader string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.follow = append(s.follow, f)
}

// ErrNoLeader reports that the set knows no leader to send a write to.
var ErrNoLeader = errors.New("no leader known")

// New builds the set, discovering the topology from the Sentinels when given, and starts
// the goroutines that probe the nodes and follow failovers.
func New(opts Options) (*Set, error) {
	opts.setDefaults()
	s := &Set{opts: opts, refresh: make(chan struct{}, 1), stop: make(chan struct{})}
	leader, replicas := opts.Leader, append([]string(nil), opts.Replicas...)
	if len(opts.Sentinels) > 0 {
		if opts.MasterName == "" {
			return nil, errors.New("sentinels given without a master name")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		l, r, err := s.discover(ctx)
		cancel()
		if err != nil {
			return nil, err
		}
		leader, replicas = l, r
	} else {
		o, err := pool.ParseURL(leader)
		if err != nil {
			return nil, fmt.Errorf("leader: %w", err)
		}
		s.opts.Pool.Username, s.opts.Pool.Password, s.opts.Pool.DB, s.opts.Pool.TLS = o.Username, o.Password, o.DB, o.TLS
		leader = o.Addr
		for i, r := range replicas {
			ro, err := pool.ParseURL(r)
			if err != nil {
				return nil, fmt.Errorf("replica %d: %w", i, err)
			}
			replicas[i] = ro.Addr
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.setTopology(leader, replicas)
	s.probeAll()
	s.wg.Add(1)
	go s.monitor()
	if len(opts.Sentinels) > 0 {
		s.wg.Add(1)
		go s.watchSentinels()
	}
	return s, nil
}

// Close stops the set's goroutines and closes every connection.
func (s *Set) Close() {
	close(s.stop)
	s.cancel()
	s.wg.Wait()
	t := s.topo.Load()
	t.leader.close()
	for _, r := range t.replicas {
		r.close()
	}
}

// newNode opens the pools of a node at addr; a leader also gets acknowledged-write and blocking connections.
func (s *Set) newNode(addr string, leader bool) *node {
	o := s.opts.Pool
	o.Addr = addr
	n := &node{addr: addr, pool: pool.New(o), region: s.opts.Regions[addr]}
	if leader {
		n.strong = s.strongPool(addr)
		if s.opts.BlockingConns > 0 {
			bo := o
			bo.Size = s.opts.BlockingConns
			bo.ReplyTimeout = max(bo.ReplyTimeout, s.opts.BlockReplyTimeout)
			n.block = pool.NewDedicated(bo)
		}
	}
	return n
}

func (s *Set) strongPool(addr string) *pool.Pool {
	o := s.opts.Pool
	o.Addr = addr
	o.Size = s.opts.StrongConns
	o.SpillAt = 1 // a connection waiting on WAIT takes no more work while another is free
	o.AckReplicas = 1
	o.AckTimeout = s.opts.AckTimeout
	o.ReplyTimeout = max(o.ReplyTimeout, s.opts.AckTimeout+5*time.Second)
	o.ClientName = "redisgate-strong"
	return pool.New(o)
}

// setTopology makes leader and replicas the set's nodes, reusing the pools of nodes it keeps.
func (s *Set) setTopology(leader string, replicas []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.topo.Load()
	byAddr := map[string]*node{}
	if old != nil {
		if old.leader.addr == leader && sameAddrs(old.replicas, replicas) {
			return
		}
		byAddr[old.leader.addr] = old.leader
		for _, r := range old.replicas {
			byAddr[r.addr] = r
		}
	}
	keep := map[*node]bool{}
	t := &topology{}
	if n, ok := byAddr[leader]; ok && n.strong != nil {
		t.leader = n
	} else {
		t.leader = s.newNode(leader, true)
		if ok {
			n.close() // a promoted replica: its pools are replaced by a leader's
			delete(byAddr, leader)
		}
	}
	keep[t.leader] = true
	for _, addr := range replicas {
		if addr == leader {
			continue
		}
		n, ok := byAddr[addr]
		if !ok || n.strong != nil {
			n = s.newNode(addr, false)
		}
		keep[n] = true
		t.replicas = append(t.replicas, n)
	}
	s.topo.Store(t)
	if old != nil {
		s.opts.Logger.Info("topology changed", "leader", leader, "replicas", replicas, "was_leader", old.leader.addr)
		if old.leader.addr != leader {
			for _, f := range s.follow {
				f(leader)
			}
		}
	}
	for _, n := range byAddr {
		if !keep[n] {
			n.close()
		}
	}
}

func sameAddrs(nodes []*node, addrs []string) bool {
	if len(nodes) != len(addrs) {
		return false
	}
	for i := range nodes {
		if nodes[i].addr != addrs[i] {
			return false
		}
	}
	return true
}

// monitor probes every node each ProbeInterval and asks the Sentinels for the topology
// each RefreshInterval or when asked, until Close.
func (s *Set) monitor() {
	defer s.wg.Done()
	probe := time.NewTicker(s.opts.ProbeInterval)
	defer probe.Stop()
	refresh := time.NewTicker(s.opts.RefreshInterval)
	defer refresh.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-probe.C:
			s.probeAll()
		case <-refresh.C:
			s.rediscover()
		case <-s.refresh:
			s.rediscover()
			s.probeAll()
		}
	}
}

// probeAll probes every node at once and records what it learnt.
func (s *Set) probeAll() {
	t := s.topo.Load()
	nodes := append([]*node{t.leader}, t.replicas...)
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), max(s.opts.ProbeInterval, 200*time.Millisecond))
			start := time.Now()
			st := n.probe(ctx)
			n.observe(time.Since(start), st.ok)
			cancel()
			n.state.Store(st)
			if st.ok && st.replID != "" {
				n.replID.Store(&st.replID)
			}
		}()
	}
	wg.Wait()
	if st := t.leader.state.Load(); st != nil && st.ok && !st.master && len(s.opts.Sentinels) > 0 {
		s.askRefresh() // our leader was demoted: the Sentinels know who leads now
	}
}

func (s *Set) askRefresh() {
	select {
	case s.refresh <- struct{}{}:
	default:
	}
}

// rediscover asks the Sentinels for the topology and applies it.
func (s *Set) rediscover() {
	if len(s.opts.Sentinels) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	leader, replicas, err := s.discover(ctx)
	if err != nil {
		s.opts.Logger.Warn("sentinel discovery failed", "err", err)
		return
	}
	s.setTopology(leader, replicas)
}

// healthy reports whether replica r may serve a read that must see after.
func (s *Set) healthy(r *node, leader *state, after Position) bool {
	st := r.state.Load()
	if st == nil || !st.ok || st.master || !st.linkUp {
		return false
	}
	if leader != nil && leader.ok && leader.offset-st.offset > s.opts.MaxLag {
		return false
	}
	if !after.IsZero() && (st.replID != after.ReplID || st.offset < after.Offset) {
		return false
	}
	return true
}

// Request says how one batch may be routed.
type Request struct {
	// Write is set when any command of the batch may write.
	Write bool
	// Mode overrides the set's consistency when not zero.
	Mode Mode
	// After is the position of the request's sync token: the read must see it.
	After Position
}

// Result says where a batch ran.
type Result struct {
	// Pos is the position the batch's answer reflects, for the next sync token.
	Pos Position
	// Lost reports that the request's sync token names a write the current leader does not have.
	Lost bool
	// Node is the address that served the batch.
	Node string
}

// Do runs b as req allows and waits for its replies or for ctx to end. It never changes b's
// commands: a write travels in a copy followed by ROLE, whose reply gives the leader's
// offset, and b receives the copy's replies to its own commands.
func (s *Set) Do(ctx context.Context, b *pool.Batch, req Request) (Result, error) {
	t := s.topo.Load()
	mode := req.Mode
	if mode == 0 {
		mode = s.opts.Mode
	}
	lst := t.leader.state.Load()
	var res Result
	after := req.After
	if !after.IsZero() && lst != nil && lst.ok && after.ReplID != lst.replID {
		if after.ReplID == lst.replID2 && after.Offset <= lst.offset2 {
			after.ReplID = lst.replID // the old history up to the failover continues in the new one
		} else {
			res.Lost = true
			s.lost.Add(1)
			after = Position{}
		}
	}
	if req.Write {
		// ROLE, right after the batch on its connection, gives the leader's offset once the
		// batch's writes are in: it travels in a copy, so that b stays the caller's.
		n := b.Len()
		w := b.Again()
		defer w.Release()
		w.Add([]byte("ROLE"))
		p := t.leader.pool
		if mode == Strong {
			p = t.leader.strong
		}
		res.Node = t.leader.addr
		if err := p.Do(ctx, w); err != nil {
			return res, err
		}
		b.Adopt(w, n)
		res.Pos = Position{ReplID: replID(lst), Offset: roleOffset(w.Reply(n))}
		if id := t.leader.replID.Load(); res.Pos.ReplID == "" && id != nil {
			// The last probe failed (a slow answer under load): the history it last saw is
			// the likeliest. Were it stale (the leader restarted), a read with this position
			// is found lost and served by the leader: never stale.
			res.Pos.ReplID = *id
		}
		for w := s.written.Load(); w == nil || w.ReplID != res.Pos.ReplID || w.Offset < res.Pos.Offset; w = s.written.Load() {
			if p := res.Pos; s.written.CompareAndSwap(w, &p) {
				break
			}
		}
		return res, nil
	}
	if mode != Eventual || len(t.replicas) == 0 || res.Lost {
		return s.readOn(ctx, b, t.leader, nil, after, res)
	}
	return s.readNearest(ctx, b, t, lst, after, res)
}

// DoBlocking runs b on a dedicated connection to the leader.
func (s *Set) DoBlocking(ctx context.Context, b *pool.Batch) error {
	t := s.topo.Load()
	if t.leader.block == nil {
		return fmt.Errorf("%w: no blocking connections configured", pool.ErrUnavailable)
	}
	return t.leader.block.Do(ctx, b)
}

// LeaderUp reports whether the last probe found the leader answering as a master.
func (s *Set) LeaderUp() bool {
	st := s.topo.Load().leader.state.Load()
	return st != nil && st.ok && st.master
}

// Mode returns the set's default consistency mode.
func (s *Set) Mode() Mode { return s.opts.Mode }

// CanBlock reports whether the set has connections for blocking commands.
func (s *Set) CanBlock() bool { return s.opts.BlockingConns > 0 }

// Lost reports how many requests carried a sync token of a write lost in a failover.
func (s *Set) Lost() int64 { return s.lost.Load() }

// LeaderPosition returns the leader's replication id and the furthest offset known to be
// reached, by its last probe or by a write through the set since; the zero Position when
// that probe failed or found it not a leader. Every write up to it has run on the leader.
func (s *Set) LeaderPosition() Position {
	st := s.topo.Load().leader.state.Load()
	if st == nil || !st.ok || !st.master {
		return Position{}
	}
	p := Position{ReplID: st.replID, Offset: st.offset}
	if w := s.written.Load(); w != nil && w.ReplID == p.ReplID && w.Offset > p.Offset {
		p.Offset = w.Offset
	}
	return p
}

// Leader returns the address of the current leader.
func (s *Set) Leader() string { return s.topo.Load().leader.addr }

// Replicas returns, for each replica, its address, whether it serves reads now, and how many it served.
func (s *Set) Replicas() []ReplicaStatus {
	t := s.topo.Load()
	lst := t.leader.state.Load()
	out := make([]ReplicaStatus, len(t.replicas))
	for i, r := range t.replicas {
		out[i] = ReplicaStatus{Addr: r.addr, Healthy: s.healthy(r, lst, Position{}), Reads: r.reads.Load(),
			Region: r.region, Latency: r.latency()}
		if st := r.state.Load(); st != nil && lst != nil {
			out[i].Lag = lst.offset - st.offset
		}
	}
	return out
}

// NodeStatus is what the set knows of one node and its connections.
type NodeStatus struct {
	Addr   string
	Leader bool
	// Pool sums the node's multiplexed and acknowledged-write connections.
	Pool pool.Stats
	// Blocking is the number of dedicated connections open (the leader's).
	Blocking int
	// Healthy and Lag are a replica's, as in ReplicaStatus (Healthy is LeaderUp for the leader).
	Healthy bool
	Lag     int64
	// Reads is how many reads the node served, Region its label (Options.Regions) and
	// Latency the EWMA of its probes' round trips (0: not known now).
	Reads   int64
	Region  string
	Latency time.Duration
}

// Nodes returns the leader's status, then each replica's.
func (s *Set) Nodes() []NodeStatus {
	t := s.topo.Load()
	out := []NodeStatus{{Addr: t.leader.addr, Leader: true, Pool: t.leader.stats(), Healthy: s.LeaderUp(),
		Reads: t.leader.reads.Load(), Region: t.leader.region, Latency: t.leader.latency()}}
	if t.leader.block != nil {
		out[0].Blocking = t.leader.block.Open()
	}
	lst := t.leader.state.Load()
	for _, r := range t.replicas {
		st := NodeStatus{Addr: r.addr, Pool: r.stats(), Healthy: s.healthy(r, lst, Position{}), Reads: r.reads.Load(),
			Region: r.region, Latency: r.latency()}
		if rst := r.state.Load(); rst != nil && lst != nil {
			st.Lag = lst.offset - rst.offset
		}
		out = append(out, st)
	}
	return out
}

// ReplicaStatus is what the set knows of one replica.
type ReplicaStatus struct {
	Addr    string
	Healthy bool
	Lag     int64
	Reads   int64
	Region  string
	Latency time.Duration
}

func replID(st *state) string {
	if st == nil {
		return ""
	}
	return st.replID
}

// roleOffset reads the replication offset from a master's ROLE reply, or 0.
func roleOffset(raw []byte) int64 {
	kind, _, n, rest, err := resp.Next(raw)
	if err != nil || kind != resp.Array || n < 2 {
		return 0
	}
	if _, _, _, rest, err = resp.Next(rest); err != nil {
		return 0
	}
	kind, data, _, _, err := resp.Next(rest)
	if err != nil || kind != resp.Integer {
		return 0
	}
	v, _ := strconv.ParseInt(string(data), 10, 64)
	return v
}
