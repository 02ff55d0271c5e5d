package backend

import (
	"context"

	"github.com/redisgate/redisgate/cluster"
	"github.com/redisgate/redisgate/pool"
)

// Cluster is a Redis Cluster served as one database (see package cluster): each command goes
// to the primary of its keys' slot, or, for reads with replica reads on, to a replica of it.
// With replica reads, sync tokens carry the position of the shard written last (see
// cluster.Position): a read of that shard goes to a replica only once it has the write, and
// reads of other shards go to their primaries.
type Cluster struct {
	c        *cluster.Cluster
	block    *cluster.Blocking
	replicas bool
}

// NewCluster returns the Backend of c; it owns c: Close closes it. replicaReads says whether
// c reads from replicas (cluster.Options.ReplicaReads): sync tokens then route reads.
func NewCluster(c *cluster.Cluster, replicaReads bool) *Cluster {
	return &Cluster{c: c, block: c.Blocking(), replicas: replicaReads}
}

// Do runs b on the primaries of its slots (reads on replicas where r allows), or, when
// r.Blocking, whole on a dedicated connection to the primary of its keys.
func (c *Cluster) Do(ctx context.Context, b *pool.Batch, r Route) (Result, error) {
	if r.Blocking {
		return Result{}, c.block.Do(ctx, b)
	}
	pos, err := c.c.DoAt(ctx, b, cluster.Request{Primary: r.Mode == Strong, After: cluster.Position(r.After)})
	return Result{Pos: Position(pos)}, err
}

// Mode is Eventual: reads may go to replicas (when replica reads are on).
func (c *Cluster) Mode() Mode { return Eventual }

// Position is zero: a Cluster's shards have positions of their own, not one stream.
func (c *Cluster) Position() Position { return Position{} }

// CanBlock is true: every primary gets dedicated connections on first use.
func (c *Cluster) CanBlock() bool { return true }

// Routes reports whether reads go to replicas: a request's consistency header and sync
// token then decide whether its reads may.
func (c *Cluster) Routes() bool { return c.replicas }

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
