package backend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redisgate/redisgate/cache"
	"github.com/redisgate/redisgate/cluster"
	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/pubsub"
	"github.com/redisgate/redisgate/replicaset"
)

// Config is what Open builds one database from.
type Config struct {
	// Tenant is how tenants' commands reach Redis: the upstream's address and credentials,
	// Size, limits and, with isolation, Confine. For a replicated database Addr is ignored.
	Tenant pool.Options
	// Own is how the gateway's own connections (pub/sub, read cache, script kills) reach
	// Redis: the operator's credentials, never confined. For a replicated database Addr is
	// ignored: they follow the leader.
	Own pool.Options
	// Leader (the upstream URL), Replicas and Sentinels with MasterName make a replicated
	// database when Replicas or Sentinels are given (see replicaset.Options).
	Leader     string
	Replicas   []string
	Sentinels  []string
	MasterName string
	// Cluster, when set, makes the database a Redis Cluster known by these seed nodes
	// (host:port): Tenant's credentials, TLS, size and limits then apply to the pools of every
	// node, Tenant.Addr and DB are ignored, and Leader, Replicas and Sentinels must be empty.
	Cluster []string
	// ReplicaReads, for a Cluster in Eventual mode, sends reads to the shards' replicas.
	ReplicaReads bool
	// Mode, AckTimeout and MaxLag configure a replicated database (see replicaset.Options).
	Mode       Mode
	AckTimeout time.Duration
	MaxLag     int64
	// Region, Regions and HedgeAfter choose the replica that serves an eventual read (see
	// replicaset.Options).
	Region     string
	Regions    map[string]string
	HedgeAfter time.Duration
	// BlockingConns is the number of dedicated connections for blocking commands (0: they
	// are refused), whose replies may take BlockReplyTimeout.
	BlockingConns     int
	BlockReplyTimeout time.Duration
	// PubSub gives the database a pub/sub hub.
	PubSub bool
	// Cache, when set, gives the database a read cache; Open fills in its Redis, Position and Logger.
	Cache *cache.Options
	// Logger receives the parts' events (default slog.Default()).
	Logger *slog.Logger
}

// Replicated reports whether c describes a leader with replicas.
func (c *Config) Replicated() bool { return len(c.Replicas) > 0 || len(c.Sentinels) > 0 }

// Database is everything one database needs, built by Open.
type Database struct {
	// Backend runs tenants' batches.
	Backend Backend
	// PubSub serves streams; nil unless Config.PubSub.
	PubSub *pubsub.Hub
	// Cache is the read cache; nil unless Config.Cache.
	Cache *cache.Cache
	// KillScripts stops the scripts running on every node, with the gateway's own credentials.
	KillScripts func(ctx context.Context) error

	set     *replicaset.Set  // nil for a single node
	cluster *cluster.Cluster // nil but for a Cluster
	own     pool.Options
	mu      sync.Mutex
	closers []func()
}

// Open builds the parts of one database. A replicated database's parts follow its leader:
// the hub and the cache connect to the new leader on a failover. Close closes them all.
func Open(cfg Config) (*Database, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	d := &Database{own: cfg.Own}
	if len(cfg.Cluster) > 0 {
		if err := d.openCluster(cfg); err != nil {
			return nil, err
		}
	} else if cfg.Replicated() {
		set, err := replicaset.New(replicaset.Options{
			Leader: cfg.Leader, Replicas: cfg.Replicas, Sentinels: cfg.Sentinels, MasterName: cfg.MasterName,
			Pool: cfg.Tenant, Mode: cfg.Mode, AckTimeout: cfg.AckTimeout, MaxLag: cfg.MaxLag,
			BlockingConns: cfg.BlockingConns, BlockReplyTimeout: cfg.BlockReplyTimeout, Logger: cfg.Logger,
			Region: cfg.Region, Regions: cfg.Regions, HedgeAfter: cfg.HedgeAfter,
		})
		if err != nil {
			return nil, err
		}
		d.set = set
		d.Backend = NewReplicated(set)
		d.closers = append(d.closers, d.Backend.Close)
		d.own.Addr, d.own.Resolve = set.Leader(), set.Leader
		d.KillScripts = KillScripts(cfg.Own, d.Nodes)
	} else {
		var block *pool.Dedicated
		if cfg.BlockingConns > 0 {
			bo := cfg.Tenant
			bo.Size = cfg.BlockingConns
			bo.ReplyTimeout = max(bo.ReplyTimeout, cfg.BlockReplyTimeout)
			block = pool.NewDedicated(bo)
		}
		d.Backend = NewNode(pool.New(cfg.Tenant), block)
		d.closers = append(d.closers, d.Backend.Close)
		addr := cfg.Own.Addr
		d.KillScripts = KillScripts(cfg.Own, func() []string { return []string{addr} })
	}
	if cfg.PubSub {
		// On a Cluster, d.own names a live primary at each dial: a message published on
		// any node reaches the subscribers of every node.
		hub := pubsub.NewHub(pubsub.Options{Redis: d.own, Logger: cfg.Logger})
		d.closers = append(d.closers, func() { hub.Close() })
		d.PubSub = hub
		d.follow(hub.Redial)
	}
	if cfg.Cache != nil {
		co := *cfg.Cache
		co.Redis = d.own
		co.Redis.Size = max(cfg.Cache.Redis.Size, 2)
		if d.cluster != nil {
			// One invalidation connection and Size tracked ones per primary, following the
			// slot map; any change of it flushes the cache.
			co.Cluster = d.cluster
		}
		if co.Logger == nil {
			co.Logger = cfg.Logger.With("component", "cache")
		}
		if set := d.set; set != nil {
			// Lets reads whose sync token names a position the cache has caught up with hit.
			co.Position = func() int64 { return set.LeaderPosition().Offset }
		}
		c := cache.New(co)
		d.closers = append(d.closers, func() { c.Close() })
		d.Cache = c
		d.follow(c.Redial)
	}
	return d, nil
}

// openCluster opens the Backend of a Cluster database.
func (d *Database) openCluster(cfg Config) error {
	switch {
	case cfg.Replicated():
		return errors.New("a Cluster database has no replicas or sentinels of its own: the cluster names them")
	case cfg.Tenant.DB != 0:
		return fmt.Errorf("a Cluster has database 0 only, not %d", cfg.Tenant.DB)
	}
	ctx, cancel := context.WithTimeout(context.Background(), max(cfg.Tenant.DialTimeout, 2*time.Second)+3*time.Second)
	defer cancel()
	replicaReads := cfg.ReplicaReads && cfg.Mode != Strong
	cl, err := cluster.New(ctx, cluster.Options{Seeds: cfg.Cluster, Node: cfg.Tenant, BlockingSize: cfg.BlockingConns,
		ReplicaReads: replicaReads, Logger: cfg.Logger})
	if err != nil {
		return err
	}
	d.cluster = cl
	d.Backend = NewCluster(cl, replicaReads)
	d.closers = append(d.closers, d.Backend.Close)
	live := func() string { return cl.Primaries()[0] }
	d.own.Addr, d.own.Resolve, d.own.DB = live(), live, 0
	d.KillScripts = KillScripts(cfg.Own, cl.Primaries)
	return nil
}

// follow has redial called each time the leader changes: a demoted leader still answers,
// so connections move to the new one rather than wait for a failure.
func (d *Database) follow(redial func()) {
	if d.set != nil {
		d.set.OnLeaderChange(func(string) { redial() })
	}
}

// Leader returns the address of the server that takes writes now.
func (d *Database) Leader() string {
	if d.set != nil {
		return d.set.Leader()
	}
	if d.cluster != nil {
		return d.cluster.Primaries()[0]
	}
	return d.own.Addr
}

// Nodes returns the addresses of every node: the leader, then the replicas.
func (d *Database) Nodes() []string {
	if d.cluster != nil {
		return d.cluster.Primaries()
	}
	if d.set == nil {
		return []string{d.own.Addr}
	}
	nodes := []string{d.set.Leader()}
	for _, r := range d.set.Replicas() {
		nodes = append(nodes, r.Addr)
	}
	return nodes
}

// Follow returns o pointed at the database's leader, following it through failovers: a
// pool made from it connects wherever the leader is at each dial. Pair it with OnLeaderChange
// to move at once.
func (d *Database) Follow(o pool.Options) pool.Options {
	if d.set != nil {
		o.Addr, o.Resolve = d.set.Leader(), d.set.Leader
	}
	if d.cluster != nil {
		o.Addr, o.DB = d.Leader(), 0
	}
	return o
}

// NewPool opens a pool of the gateway's own to the database's leader with o's credentials
// and settings (its Addr is replaced by the leader's), redialled when the leader changes
// and closed by Close: the rate limiter's store, say.
func (d *Database) NewPool(o pool.Options) *pool.Pool {
	if d.set != nil {
		o = d.Follow(o)
	}
	p := pool.New(o)
	d.follow(p.Redial)
	d.mu.Lock()
	d.closers = append(d.closers, func() { p.Close() })
	d.mu.Unlock()
	return p
}

// Close closes every part, the last opened first.
func (d *Database) Close() {
	d.mu.Lock()
	closers := d.closers
	d.closers = nil
	d.mu.Unlock()
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
}

// OpenCluster opens a Redis Cluster of the gateway's own from seeds, with o's credentials,
// TLS, size and timeouts (its Addr and DB are ignored): the rate limiter's store, say. It
// fails when a primary of that cluster is a node of one of dbs, whose tenants could then
// reach the keys kept there.
func OpenCluster(seeds []string, o pool.Options, dbs ...*Database) (*cluster.Cluster, error) {
	ctx, cancel := context.WithTimeout(context.Background(), max(o.DialTimeout, 2*time.Second)+3*time.Second)
	defer cancel()
	o.DB = 0
	cl, err := cluster.New(ctx, cluster.Options{Seeds: seeds, Node: o, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	theirs := map[string]bool{}
	for _, d := range dbs {
		if d == nil {
			continue
		}
		for _, a := range d.Nodes() {
			theirs[a] = true
		}
		if d.cluster != nil {
			for _, n := range d.cluster.Nodes() {
				theirs[n.Addr] = true
			}
		}
	}
	for _, a := range cl.Primaries() {
		if theirs[a] {
			cl.Close()
			return nil, fmt.Errorf("cluster %v: its primary %s serves a database, whose tenants could reach the keys kept there", seeds, a)
		}
	}
	return cl, nil
}
