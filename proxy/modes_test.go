package proxy_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redisgate/redisgate/backend"
	"github.com/redisgate/redisgate/cache"
	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/proxy"
)

// cacheMode is whether and how a database keeps a read cache.
type cacheMode int

const (
	cacheOff cacheMode = iota
	cacheOn
	cacheStrict
)

// mode is one shape of backend a test body runs against (like net/http's testMode).
type mode struct {
	replicated  bool         // a leader and one replica instead of a single node
	consistency backend.Mode // of a replicated database
	cache       cacheMode
	// cluster, when set, serves the database from this Redis Cluster (consistency says
	// whether reads go to the shards' replicas) instead of a single node or a replicated one.
	cluster *redistest.Cluster
}

func (m mode) String() string {
	name := "single"
	if m.cluster != nil {
		name = "cluster-" + m.consistency.String()
	}
	if m.replicated {
		name = "replicated-" + m.consistency.String()
	}
	return name + "/cache-" + [...]string{"off", "on", "strict"}[m.cache]
}

// allModes are every backend shape with every read cache mode: the REST contract holds in each.
var allModes = func() []mode {
	var ms []mode
	for _, b := range []mode{{}, {replicated: true, consistency: backend.Eventual}, {replicated: true, consistency: backend.Strong}} {
		for _, c := range []cacheMode{cacheOff, cacheOn, cacheStrict} {
			b.cache = c
			ms = append(ms, b)
		}
	}
	return ms
}()

// withMode serves the gateway's database in mode m.
func withMode(m mode) gatewayOption {
	return func(c *gatewayConfig) { c.mode = m }
}

// run runs f once per mode, as a subtest named after it, each against a gateway of its own
// made with opts and the mode.
func run(t *testing.T, f func(t *testing.T, g *gateway), modes []mode, opts ...gatewayOption) {
	t.Helper()
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			g := startGateway(t, append(opts, withMode(m))...)
			f(t, g)
			st := g.backend.Stats()
			if st.Replicated != m.replicated {
				t.Errorf("backend stats %+v: replicated %v, want %v", st, st.Replicated, m.replicated)
			}
			if m.replicated && m.consistency == backend.Strong && st.Nodes[1].Reads != 0 {
				t.Errorf("the replica served %d reads in strong mode", st.Nodes[1].Reads)
			}
		})
	}
}

// openMode opens the database's backend in mode m through backend.Open, as the gateway
// does: for a replicated mode leader gets a replica; the read cache goes in db.
func openMode(t testing.TB, m mode, leader *redistest.Server, o pool.Options, blockingConns int, db *proxy.Database) backend.Backend {
	t.Helper()
	cfg := backend.Config{Tenant: o, Own: o, Leader: leader.URL(), BlockingConns: blockingConns, Logger: slog.New(slog.DiscardHandler)}
	if m.cluster != nil {
		cfg.Leader = ""
		cfg.Cluster = strings.Split(m.cluster.Seeds(), ",")
		cfg.Mode, cfg.ReplicaReads = m.consistency, m.consistency == backend.Eventual
	}
	if m.replicated {
		replica := redistest.StartReplica(t, leader, "")
		cfg.Replicas, cfg.Mode, cfg.AckTimeout = []string{replica.URL()}, m.consistency, time.Second
	}
	if m.cache != cacheOff {
		cfg.Cache = &cache.Options{PingInterval: 100 * time.Millisecond, Timeout: 500 * time.Millisecond, Strict: m.cache == cacheStrict}
	}
	d, err := backend.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close) // after the server's Shutdown, registered later
	if d.Cache != nil {
		redistest.WaitFor(t, 5*time.Second, d.Cache.On, "cache on")
		db.Cache = d.Cache
	}
	if m.replicated {
		redistest.WaitFor(t, 5*time.Second, func() bool {
			st := d.Backend.Stats()
			return d.Backend.Ready() && len(st.Nodes) == 2 && st.Nodes[1].Healthy
		}, "replica healthy")
	}
	return d.Backend
}
