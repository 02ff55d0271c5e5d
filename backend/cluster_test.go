package backend_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redisgate/redisgate/backend"
	"github.com/redisgate/redisgate/cache"
	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/pubsub"
)

// TestClusterDatabase opens a database on a real 3-primary Redis Cluster: batches are routed by
// slot, blocking commands run on dedicated connections to their primary, a message published
// through the backend on any node reaches the database's pub/sub hub, and Stats names every
// primary, the read cache fills from every primary and follows writes; a logical database
// other than 0 is refused with a clear error.
func TestClusterDatabase(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 0)
	seeds := strings.Split(rc.Seeds(), ",")
	if _, err := backend.Open(backend.Config{Cluster: seeds, Cache: nil, Tenant: pool.Options{DB: 3}, Logger: quiet}); err == nil ||
		!strings.Contains(err.Error(), "database 0 only") {
		t.Errorf("a Cluster database on DB 3: %v", err)
	}
	d := open(t, backend.Config{Cluster: seeds[:1], BlockingConns: 2, PubSub: true, Cache: &cache.Options{PingInterval: 100 * time.Millisecond}})
	be := d.Backend
	for i := range 30 {
		k := fmt.Sprintf("k%d", i)
		if r, _ := do(t, be, backend.Route{Write: true}, "SET", k, k); r != "+OK\r\n" {
			t.Fatalf("SET %s: %q", k, r)
		}
	}
	if r, _ := do(t, be, backend.Route{}, "DBSIZE"); r != ":30\r\n" {
		t.Errorf("DBSIZE: %q", r)
	}
	// The read cache fills from every primary, and a write through the backend followed by
	// Sync (as the proxy does) is never answered from an older entry.
	redistest.WaitFor(t, 5*time.Second, d.Cache.On, "read cache on every primary")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := range 30 {
		k := fmt.Sprintf("k%d", i)
		for range 2 {
			if raw, _, err := d.Cache.Get(ctx, [][]byte{[]byte("GET"), []byte(k)}); err != nil || string(raw) != fmt.Sprintf("$%d\r\n%s\r\n", len(k), k) {
				t.Fatalf("cached GET %s: %q %v", k, raw, err)
			}
		}
		do(t, be, backend.Route{Write: true}, "APPEND", k, "+")
		d.Cache.Sync(ctx)
		if raw, _, err := d.Cache.Get(ctx, [][]byte{[]byte("GET"), []byte(k)}); err != nil || string(raw) != fmt.Sprintf("$%d\r\n%s+\r\n", len(k)+1, k) {
			t.Fatalf("cached GET %s after APPEND: %q %v", k, raw, err)
		}
	}
	if st := d.Cache.Stats(); st.Hits < 30 || st.Entries < 30 {
		t.Errorf("cache stats %+v: want 30 hits and entries", st)
	}
	// With replica reads, a write answers its shard's position, and reads go by it.
	rr := open(t, backend.Config{Cluster: seeds[:1], ReplicaReads: true})
	if !rr.Backend.Routes() || be.Routes() {
		t.Errorf("Routes: %v with replica reads, %v without", rr.Backend.Routes(), be.Routes())
	}
	if r, res := do(t, rr.Backend, backend.Route{Write: true}, "SET", "k1", "v"); r != "+OK\r\n" || len(res.Pos.ReplID) != 40 || res.Pos.Offset < 0 {
		t.Errorf("SET with replica reads: %q, position %+v", r, res.Pos)
	} else if r, res2 := do(t, rr.Backend, backend.Route{After: res.Pos}, "GET", "k1"); r != "$1\r\nv\r\n" || res2.Pos != res.Pos {
		t.Errorf("GET with the SET's position: %q, position %+v", r, res2.Pos)
	}
	// The limiter's state may not live on the database's own cluster, whatever seed names it.
	if cl, err := backend.OpenCluster(seeds[2:], pool.Options{Size: 1}, d); err == nil || !strings.Contains(err.Error(), "serves a database") {
		if cl != nil {
			cl.Close()
		}
		t.Errorf("a limiter cluster that is the database's: %v", err)
	}
	if st := be.Stats(); len(st.Nodes) != 3 {
		t.Errorf("stats of %d nodes, want the 3 primaries: %+v", len(st.Nodes), st)
	}
	if !be.Ready() || !be.CanBlock() {
		t.Errorf("Ready %v CanBlock %v Routes %v", be.Ready(), be.CanBlock(), be.Routes())
	}

	got := make(chan string, 1)
	go func() {
		r, _ := do(t, be, backend.Route{Blocking: true}, "BLPOP", "queue", "5")
		got <- r
	}()
	time.Sleep(200 * time.Millisecond)
	do(t, be, backend.Route{Write: true}, "RPUSH", "queue", "job")
	if r := <-got; r != "*2\r\n$5\r\nqueue\r\n$3\r\njob\r\n" {
		t.Errorf("BLPOP: %q", r)
	}

	sub, err := d.PubSub.Subscribe(ctx, pubsub.Channels, "news")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	// PUBLISH is keyless: it goes to any primary, and the cluster broadcasts it.
	for i := range 3 {
		do(t, be, backend.Route{Write: true}, "PUBLISH", "news", fmt.Sprint(i))
	}
	var msgs []*pubsub.Message
	redistest.WaitFor(t, 5*time.Second, func() bool {
		select {
		case <-sub.Ready():
		default:
		}
		msgs = sub.Take(msgs)
		return len(msgs) >= 3
	}, "3 messages published through the cluster")
}
