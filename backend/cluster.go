package backend

import (
	"context"

	"github.com/redisgate/redisgate/cluster"
	"github.com/redisgate/redisgate/pool"
)

// Cluster is a Redis Cluster served as one database (see package cluster): each command goes
// to the primary of its keys' slot, or, for reads in Eventual mode with ReplicaReads, to a
// replica of it. It has no replication positions: a sync token does not route its reads.
type Cluster struct {
	c     *cluster.Cluster
	block *cluster.Blocking
}

// NewCluster returns the Backend of c; it owns c: Close closes it.
func NewCluster(c *cluster.Cluster) *Cluster { return &Cluster{c: c, block: c.Blocking()} }

// Do runs b on the primaries of its slots, or, when r.Blocking, whole on a dedicated
// connection to the primary of its keys.
func (c *Cluster) Do(ctx context.Context, b *pool.Batch, r Route) (Result, error) {
	if r.Blocking {
		return Result{}, c.block.Do(ctx, b)
	}
	return Result{}, c.c.Do(ctx, b)
}

// Mode is Eventual: sync tokens carry no positions on a Cluster.
func (c *Cluster) Mode() Mode { return Eventual }

// Position is zero: a Cluster's shards have positions of their own, not one stream.
func (c *Cluster) Position() Position { return Position{} }

// CanBlock is true: every primary gets dedicated connections on first use.
func (c *Cluster) CanBlock() bool { return true }

// Routes is false: the slot of the keys alone chooses the node.
func (c *Cluster) Routes() bool { return false }

// Stats reports every primary (as leaders) and the replicas read from.
func (c *Cluster) Stats() Stats {
	var st Stats
	for _, n := range c.c.Nodes() {
		st.Nodes = append(st.Nodes, NodeStats{Addr: n.Addr, Leader: n.Primary, Pool: n.Pool, Blocking: n.Blocking, Healthy: true})
	}
	return st
}

// Ready reports whether every primary used has a connection up.
func (c *Cluster) Ready() bool { return c.c.Ready() }

// Close closes every connection to the cluster.
func (c *Cluster) Close() { c.c.Close() }
