package respserver_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/redisgate/redisgate/backend"
	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/proxy"
	"github.com/redisgate/redisgate/pubsub"
	"github.com/redisgate/redisgate/replicaset"
	"github.com/redisgate/redisgate/respserver"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
	)
}

const (
	rwToken    = "test-read-write-token-0123456789"
	roToken    = "test-read-only-token-0123456789"
	otherToken = "test-other-database-token-0123456789"
)

// sharedDB opens the backend and hub of logical database n of the server o reaches, closed
// when the test ends.
func sharedDB(t testing.TB, o pool.Options, n, blocking int) (backend.Backend, *pubsub.Hub) {
	o.DB = n
	d, err := backend.Open(backend.Config{Tenant: o, Own: o, BlockingConns: blocking, PubSub: true, Logger: o.Logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d.Backend, d.PubSub
}

// listener is a respserver.Server on a loopback port in front of a gateway and a real redis-server.
type listener struct {
	t     testing.TB
	addr  string
	redis *redistest.Server
	pool  *pool.Pool
	gw    *proxy.Server
	srv   *respserver.Server
	hub   *pubsub.Hub
}

type setup struct {
	proxy     proxy.Options
	resp      respserver.Options
	poolSize  int
	blocking  int
	redis     *redistest.Server
	set       *replicaset.Set    // when set, the database is served from it
	hubBuffer int                // messages queued per subscriber (0: the hub's default)
	cluster   *redistest.Cluster // when set, the database is this Redis Cluster
	shared    bool               // two databases share the Redis server: logical 1 (rwToken) and 2 (otherToken)
}

func start(t testing.TB, opts ...func(*setup)) *listener {
	t.Helper()
	st := setup{
		proxy: proxy.Options{
			CommandTimeout: 5 * time.Second,
			MaxBlock:       2 * time.Second,
			Logger:         slog.New(slog.DiscardHandler),
		},
		resp:     respserver.Options{Logger: slog.New(slog.DiscardHandler)},
		poolSize: 2,
		blocking: 2,
	}
	for _, f := range opts {
		f(&st)
	}
	rs := st.redis
	if st.cluster != nil {
		rs = st.cluster.Primaries[0]
	}
	if rs == nil {
		rs = redistest.Start(t)
	}
	popts, err := pool.ParseURL(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	popts.Size = st.poolSize
	popts.Logger = slog.New(slog.DiscardHandler)
	p := pool.New(popts)
	var bp *pool.Dedicated
	if st.blocking > 0 {
		bo := popts
		bo.Size = st.blocking
		bp = pool.NewDedicated(bo)
	}
	node := backend.NewNode(p, bp)
	hub := pubsub.NewHub(pubsub.Options{Redis: popts, Buffer: st.hubBuffer, Logger: slog.New(slog.DiscardHandler)})
	db := proxy.Database{Name: "test", Backend: node, Tokens: []string{rwToken}, ReadOnlyTokens: []string{roToken}, PubSub: hub}
	if st.set != nil {
		db.Backend = backend.NewReplicated(st.set)
	}
	if st.cluster != nil {
		cdb, err := backend.Open(backend.Config{Cluster: strings.Split(st.cluster.Seeds(), ","), Tenant: popts, Own: popts,
			BlockingConns: st.blocking, PubSub: true, Logger: popts.Logger})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cdb.Close)
		db.Backend, db.PubSub = cdb.Backend, cdb.PubSub
	}
	dbs := []proxy.Database{db}
	if st.shared {
		dbs[0].LogicalDB, dbs[0].Shared = 1, true
		dbs[0].Backend, dbs[0].PubSub = sharedDB(t, popts, 1, st.blocking)
		other := proxy.Database{Name: "other", Tokens: []string{otherToken}, LogicalDB: 2, Shared: true}
		other.Backend, other.PubSub = sharedDB(t, popts, 2, st.blocking)
		dbs = append(dbs, other)
	}
	gw, err := proxy.New(st.proxy, dbs)
	if err != nil {
		t.Fatal(err)
	}
	srv := respserver.New(gw, st.resp)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("resp shutdown: %v", err)
		}
		if err := <-served; err != respserver.ErrServerClosed {
			t.Errorf("Serve: %v", err)
		}
		if err := gw.Shutdown(ctx); err != nil {
			t.Errorf("gateway shutdown: %v", err)
		}
		node.Close()
		hub.Close()
		if st.set != nil {
			db.Backend.Close()
		}
	})
	return &listener{t: t, addr: ln.Addr().String(), redis: rs, pool: p, gw: gw, srv: srv, hub: hub}
}

// client returns a go-redis client of the listener with token, closed when the test ends.
func (l *listener) client(token string, f ...func(*redis.Options)) *redis.Client {
	o := &redis.Options{Addr: l.addr, Password: token, MaxRetries: -1, PoolSize: 4}
	for _, g := range f {
		g(o)
	}
	c := redis.NewClient(o)
	l.t.Cleanup(func() { c.Close() })
	return c
}
