package proxy_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redisgate/redisgate/backend"
	"github.com/redisgate/redisgate/cache"
	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/proxy"
	"github.com/redisgate/redisgate/replicaset"
)

// replicatedGateway serves one database from a leader and two replicas.
type replicatedGateway struct {
	*gateway
	leader, r1, r2 *redistest.Server
	set            *replicaset.Set
}

func startReplicatedGateway(t *testing.T, mode replicaset.Mode, dbOpts ...func(*proxy.Database, *replicaset.Set)) *replicatedGateway {
	t.Helper()
	leader := redistest.Start(t)
	r1 := redistest.StartReplica(t, leader, "")
	r2 := redistest.StartReplica(t, leader, "")
	set, err := replicaset.New(replicaset.Options{
		Leader: leader.URL(), Replicas: []string{r1.URL(), r2.URL()}, Mode: mode, AckTimeout: 300 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	db := proxy.Database{Name: "r", Backend: backend.NewReplicated(set), Tokens: []string{rwToken}}
	for _, f := range dbOpts {
		f(&db, set)
	}
	srv, err := proxy.New(proxy.Options{MaxArgs: 100, Logger: slog.New(slog.DiscardHandler)}, []proxy.Database{db})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-served
		set.Close()
	})
	redistest.WaitFor(t, 3*time.Second, func() bool {
		for _, r := range set.Replicas() {
			if !r.Healthy {
				return false
			}
		}
		return true
	}, "replicas healthy")
	return &replicatedGateway{gateway: &gateway{t: t, url: "http://" + ln.Addr().String(), redis: leader}, leader: leader, r1: r1, r2: r2, set: set}
}

func getCalls(t *testing.T, rs *redistest.Server) string {
	v, err := rs.Do("INFO", "commandstats")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`cmdstat_get:calls=(\d+)`).FindStringSubmatch(fmt.Sprint(v))
	if m == nil {
		return "0"
	}
	return m[1]
}

func TestReplicatedEventual(t *testing.T) {
	g := startReplicatedGateway(t, replicaset.Eventual)
	w := g.req("GET", "/set/k/v", "")
	w.expect(t, 200, `{"result":"OK"}`)
	tok := w.header.Get("Upstash-Sync-Token")
	if _, ok := replicaset.ParseToken(tok); !ok {
		t.Fatalf("a write's sync token %q names no position", tok)
	}
	// Reads carrying the token see the write; reads spread over both replicas.
	for range 40 {
		g.req("GET", "/get/k", "", "Upstash-Sync-Token", tok).expect(t, 200, `{"result":"v"}`)
	}
	time.Sleep(300 * time.Millisecond)
	for range 40 {
		g.req("GET", "/get/k", "").expect(t, 200, `{"result":"v"}`)
	}
	c1, c2, cl := getCalls(t, g.r1), getCalls(t, g.r2), getCalls(t, g.leader)
	t.Logf("GETs: replica1 %s, replica2 %s, leader %s", c1, c2, cl)
	if c1 == "0" || c2 == "0" {
		t.Errorf("reads did not reach both replicas: %s, %s (leader %s)", c1, c2, cl)
	}
	// A pipeline with a write goes to the leader as a whole.
	g.req("POST", "/pipeline", `[["GET","k"],["INCR","n"],["GET","n"]]`).expect(t, 200, `[{"result":"v"},{"result":1},{"result":"1"}]`)
	g.req("GET", "/get/k", "", proxy.ConsistencyHeader, "sometimes").expect(t, 400, `{"error":"ERR consistency \"sometimes\": want eventual or strong"}`)
	// A token of a history the leader does not know is reported, and answered from the leader.
	r := g.req("GET", "/get/k", "", "Upstash-Sync-Token", "0123456789012345678901234567890123456789-99-1")
	if r.status != 200 || r.header.Get(proxy.SyncLostHeader) != "1" {
		t.Errorf("foreign token: %d %s, lost header %q", r.status, r.body, r.header.Get(proxy.SyncLostHeader))
	}
}

func TestReplicatedStrongWriteNotAcknowledged(t *testing.T) {
	g := startReplicatedGateway(t, replicaset.Eventual)
	g.req("GET", "/set/a/1", "", proxy.ConsistencyHeader, "strong").expect(t, 200, `{"result":"OK"}`)
	g.r1.Freeze()
	g.r2.Freeze()
	defer g.r1.Thaw()
	defer g.r2.Thaw()
	// Eventual writes do not wait for replicas.
	g.req("GET", "/set/b/1", "").expect(t, 200, `{"result":"OK"}`)
	r := g.req("GET", "/set/c/1", "", proxy.ConsistencyHeader, "strong")
	if r.status != 504 || !strings.HasPrefix(r.body, `{"error":"ERR write applied on the leader but not acknowledged by a replica in time`) {
		t.Errorf("strong write with replicas frozen: %d %s", r.status, r.body)
	}
}

// TestReplicatedCacheHonoursSyncTokens reads through the cache with sync tokens naming
// positions of the leader, as the SDK sends them. A token of a write made through the
// gateway hits; a token of a write made straight on the leader, read at once (before its
// invalidation may have arrived), is never answered with the older value.
func TestReplicatedCacheHonoursSyncTokens(t *testing.T) {
	var k *cache.Cache
	g := startReplicatedGateway(t, replicaset.Eventual, func(db *proxy.Database, set *replicaset.Set) {
		o, err := pool.ParseURL("redis://" + set.Leader())
		if err != nil {
			t.Fatal(err)
		}
		o.Size, o.Logger = 2, slog.New(slog.DiscardHandler)
		k = cache.New(cache.Options{Redis: o, Logger: slog.New(slog.DiscardHandler),
			Position: func() int64 { return set.LeaderPosition().Offset }})
		t.Cleanup(func() { k.Close() })
		redistest.WaitFor(t, 5*time.Second, k.On, "cache on")
		db.Cache = k
	})
	w := g.req("GET", "/set/k/v0", "")
	tok := w.header.Get("Upstash-Sync-Token")
	for range 3 {
		r := g.req("GET", "/get/k", "", "Upstash-Sync-Token", tok)
		r.expect(t, 200, `{"result":"v0"}`)
		if p, ok := replicaset.ParseToken(r.header.Get("Upstash-Sync-Token")); !ok || p.Offset < mustParseToken(t, tok).Offset {
			t.Errorf("answer's sync token %q, want a position at least the request's %q", r.header.Get("Upstash-Sync-Token"), tok)
		}
	}
	if st := k.Stats(); st.Hits < 2 {
		t.Fatalf("reads with the write's token: %d hits, want 2 (stats %+v)", st.Hits, st)
	}
	const tries = 300
	hits := k.Stats().Hits
	for i := range tries {
		v := "v" + strconv.Itoa(i+1)
		g.leader.MustDo("SET", "k", v)
		info := fmt.Sprint(g.leader.MustDo("INFO", "replication"))
		m := regexp.MustCompile(`master_replid:(\w+)[\s\S]*master_repl_offset:(\d+)`).FindStringSubmatch(info)
		if m == nil {
			t.Fatalf("INFO replication: %s", info)
		}
		direct := m[1] + "-" + m[2] + "-1"
		if r := g.req("GET", "/get/k", "", "Upstash-Sync-Token", direct); r.body != `{"result":"`+v+`"}` {
			t.Fatalf("try %d: read with the token of a direct write answered %d %s, want %s", i, r.status, r.body, v)
		}
		g.req("GET", "/get/k", "", "Upstash-Sync-Token", direct).expect(t, 200, `{"result":"`+v+`"}`)
	}
	if got := k.Stats().Hits - hits; got < tries/2 {
		t.Errorf("%d of %d second reads hit the cache", got, tries)
	}
}

func mustParseToken(t *testing.T, tok string) replicaset.Position {
	t.Helper()
	p, ok := replicaset.ParseToken(tok)
	if !ok {
		t.Fatalf("token %q names no position", tok)
	}
	return p
}
