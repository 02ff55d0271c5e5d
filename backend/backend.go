// Package backend is the seam between what a request needs and how its bytes reach Redis.
//
// Every database the gateway serves is one Backend, whatever its shape: a single node (a
// multiplexed pool plus dedicated connections for blocking commands) or a leader with
// replicas (package replicaset). The proxy hands a Backend a batch and a Route, which says
// what the batch does (writes or not, blocks or not) and what the request asks (a
// consistency mode, the position of its sync token); the Backend picks the connection and
// answers with a Result, whose position makes the next sync token. Nothing above this
// package knows which shape it talks to.
//
// Contract of Do: it sends b at most once (a batch it could not send fails with an error
// matching pool.ErrUnavailable, and a retry is safe), never changes b's commands, and returns
// when b's replies are in or ctx ends; the errors are the pool's (pool.ErrUnavailable,
// ErrBroken, ErrTimeout, ErrNotAcked, ErrTooLarge, ErrInflightFull, ErrClosed), and ErrNoBlocking for a blocking batch
// without dedicated connections. b is the caller's before and after: after
// a nil error its replies may be read until b.Release.
//
// Open builds everything one database needs (the Backend, the pub/sub hub, the read cache,
// the script killer and pools of the gateway's own) and makes each part follow the leader
// through failovers itself.
package backend

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/replicaset"
)

// Mode is a consistency mode: Eventual or Strong.
type Mode = replicaset.Mode

// The consistency modes.
const (
	Eventual = replicaset.Eventual
	Strong   = replicaset.Strong
)

// Position is a point in a leader's replication stream; sync tokens carry it.
type Position = replicaset.Position

// Route says what a batch does and what its request asks of the backend.
type Route struct {
	// Write is set when some command of the batch may write.
	Write bool
	// Blocking is set when some command blocks its connection: the batch runs, whole and in
	// order, on a dedicated connection.
	Blocking bool
	// Mode overrides the database's consistency mode when not zero.
	Mode Mode
	// After is the position of the request's sync token: a read must see it. Zero: none.
	After Position
}

// Result says where a batch ran.
type Result struct {
	// Pos is the position the answer reflects, for the next sync token; zero when the
	// backend has no positions (a single node: every read sees every write).
	Pos Position
	// Lost reports that Route.After names a write the current leader does not have: it was
	// lost in a failover.
	Lost bool
}

// Backend runs batches of commands against one database's Redis servers.
type Backend interface {
	// Do sends b where r says and waits for its replies or for ctx to end (see the package doc).
	Do(ctx context.Context, b *pool.Batch, r Route) (Result, error)
	// Mode is the database's consistency mode (Eventual for a single node).
	Mode() Mode
	// Position is the furthest point of the leader's replication stream known to be
	// reached; zero for a single node, or when the leader is not known to be up.
	Position() Position
	// CanBlock reports whether blocking commands have connections to run on.
	CanBlock() bool
	// Routes reports whether Route.Mode and Route.After change where a batch runs; when
	// false, callers need not read them from the request (reading headers costs).
	Routes() bool
	// Stats reports every node's connections and traffic, the leader first.
	Stats() Stats
	// Ready reports whether writes can reach the leader now.
	Ready() bool
	// Close closes every connection; Do then fails with pool.ErrClosed or ErrUnavailable.
	Close()
}

// Stats is what a backend reports of its nodes.
type Stats struct {
	// Replicated is set for a leader with replicas.
	Replicated bool
	// Nodes are the leader, then the replicas.
	Nodes []NodeStats
	// Lost counts requests whose sync token named a write lost in a failover.
	Lost int64
	// Routing counts a replicated backend's hedged, retried and ROLE-checked reads.
	Routing Routing
}

// Routing counts a replicated backend's read routing events (see replicaset.Counters).
type Routing = replicaset.Counters

// NodeStats is what a backend reports of one node.
type NodeStats struct {
	// Addr is the node's host:port.
	Addr string
	// Leader is set for the node that takes writes.
	Leader bool
	// Pool sums the node's multiplexed connections (acknowledged-write ones included).
	Pool pool.Stats
	// Blocking is the number of dedicated connections open.
	Blocking int
	// Healthy reports, for a replica, whether it serves reads now; Lag is how many bytes of
	// the replication stream it is behind; Reads is how many reads it served (a replicated
	// backend's leader too).
	Healthy bool
	Lag     int64
	Reads   int64
	// Region is the node's label (config regions) and Latency the average round trip of
	// its health probes; empty and 0 when not known (a single node, a Cluster).
	Region  string
	Latency time.Duration
}

// ErrNoBlocking reports a blocking batch on a backend without dedicated connections.
var ErrNoBlocking = errors.New("no blocking connections configured")

// Node is a single Redis server: a multiplexed pool and, optionally, dedicated connections
// for blocking commands. It has no replication positions: every read sees every write.
type Node struct {
	pool  *pool.Pool
	block *pool.Dedicated // nil: blocking batches fail with ErrNoBlocking
}

// NewNode returns the Backend of a single server reached through p, with blocking batches
// on block (nil: none). The Node owns both: Close closes them.
func NewNode(p *pool.Pool, block *pool.Dedicated) *Node { return &Node{pool: p, block: block} }

// Do runs b on the pool, or alone on a dedicated connection when r.Blocking.
func (n *Node) Do(ctx context.Context, b *pool.Batch, r Route) (Result, error) {
	if r.Blocking {
		if n.block == nil {
			return Result{}, fmt.Errorf("%w: %w", pool.ErrUnavailable, ErrNoBlocking)
		}
		return Result{}, n.block.Do(ctx, b)
	}
	return Result{}, n.pool.Do(ctx, b)
}

// Mode is Eventual: one server is always consistent.
func (n *Node) Mode() Mode { return Eventual }

// Position is zero: a single node has no positions.
func (n *Node) Position() Position { return Position{} }

// CanBlock reports whether the node has dedicated connections.
func (n *Node) CanBlock() bool { return n.block != nil }

// Routes is false: one node serves every batch.
func (n *Node) Routes() bool { return false }

// Stats reports the node's pool.
func (n *Node) Stats() Stats {
	st := NodeStats{Addr: n.pool.Addr(), Leader: true, Pool: n.pool.Stats(), Healthy: true}
	if n.block != nil {
		st.Blocking = n.block.Open()
	}
	return Stats{Nodes: []NodeStats{st}}
}

// Ready reports whether a connection to the server is up.
func (n *Node) Ready() bool { return n.pool.Connected() > 0 }

// Close closes the pool and the dedicated connections.
func (n *Node) Close() {
	n.pool.Close()
	if n.block != nil {
		n.block.Close()
	}
}

// Replicated is a leader and its replicas (see package replicaset).
type Replicated struct{ set *replicaset.Set }

// NewReplicated returns the Backend of set; it owns set: Close closes it.
func NewReplicated(set *replicaset.Set) *Replicated { return &Replicated{set: set} }

// Set returns the replica set, for tests and for following its leader.
func (r *Replicated) Set() *replicaset.Set { return r.set }

// Do runs b on the leader's dedicated connections when rt.Blocking, else where the set's
// routing sends it (see replicaset.Set.Do).
func (r *Replicated) Do(ctx context.Context, b *pool.Batch, rt Route) (Result, error) {
	if rt.Blocking {
		return Result{}, r.set.DoBlocking(ctx, b)
	}
	res, err := r.set.Do(ctx, b, replicaset.Request{Write: rt.Write, Mode: rt.Mode, After: rt.After})
	return Result{Pos: res.Pos, Lost: res.Lost}, err
}

// Mode is the set's default consistency mode.
func (r *Replicated) Mode() Mode { return r.set.Mode() }

// Position is the leader's position (see replicaset.Set.LeaderPosition).
func (r *Replicated) Position() Position { return r.set.LeaderPosition() }

// CanBlock reports whether the leader has dedicated connections.
func (r *Replicated) CanBlock() bool { return r.set.CanBlock() }

// Routes is true: the mode and the sync token's position choose the node.
func (r *Replicated) Routes() bool { return true }

// Stats reports the leader and every replica.
func (r *Replicated) Stats() Stats {
	nodes := r.set.Nodes()
	st := Stats{Replicated: true, Nodes: make([]NodeStats, len(nodes)), Lost: r.set.Lost(), Routing: r.set.Counters()}
	for i, n := range nodes {
		st.Nodes[i] = NodeStats{Addr: n.Addr, Leader: n.Leader, Pool: n.Pool, Blocking: n.Blocking, Healthy: n.Healthy, Lag: n.Lag, Reads: n.Reads,
			Region: n.Region, Latency: n.Latency}
	}
	return st
}

// Ready reports whether the last probe found the leader answering as a master.
func (r *Replicated) Ready() bool { return r.set.LeaderUp() }

// Close stops the set and closes its connections.
func (r *Replicated) Close() { r.set.Close() }
