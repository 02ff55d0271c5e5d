package cache_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redisgate/redisgate/cache"
	"github.com/redisgate/redisgate/cluster"
	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/pool"
)

// openCluster returns a Cluster client of rc whose slot map is reloaded every refresh, and a
// Cache on it that is on.
func openCluster(t *testing.T, rc *redistest.Cluster, refresh time.Duration, maxBytes int) (*cluster.Cluster, *cache.Cache) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	quiet := slog.New(slog.DiscardHandler)
	cl, err := cluster.New(ctx, cluster.Options{Seeds: []string{rc.Primaries[0].Addr},
		Node: pool.Options{Size: 2, Logger: quiet}, Refresh: refresh, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	c := cache.New(cache.Options{Redis: pool.Options{Logger: quiet}, Cluster: cl, MaxBytes: maxBytes,
		Logger: quiet, PingInterval: 100 * time.Millisecond, Timeout: 500 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	waitOn(t, c)
	return cl, c
}

// server returns the node of rc at addr.
func server(t *testing.T, rc *redistest.Cluster, addr string) *redistest.Server {
	t.Helper()
	for _, s := range rc.Nodes() {
		if s.Addr == addr {
			return s
		}
	}
	t.Fatalf("no node at %s", addr)
	return nil
}

// keyOn returns a key named prefix… whose slot the primary p serves (slots split evenly
// among n primaries, as StartCluster assigns them), avoiding the slots in avoid.
func keyOn(rc *redistest.Cluster, i int, prefix string, avoid ...int) string {
	n := len(rc.Primaries)
	lo, hi := i*cluster.Slots/n, (i+1)*cluster.Slots/n-1
next:
	for j := 0; ; j++ {
		k := fmt.Sprintf("%s%d", prefix, j)
		s := cluster.Slot([]byte(k))
		if s < lo || s > hi {
			continue
		}
		for _, a := range avoid {
			if s == a {
				continue next
			}
		}
		return k
	}
}

func gateway(t *testing.T, cl *cluster.Cluster, a ...string) string {
	t.Helper()
	b := pool.NewBatch(1)
	b.Add(args(a...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cl.Do(ctx, b); err != nil {
		t.Fatalf("%q through the cluster: %v", a, err)
	}
	defer b.Release()
	return string(b.Reply(0))
}

func syncCache(c *cache.Cache) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c.Sync(ctx)
}

// tryGet runs Get, returning its reply as text or its error.
func tryGet(c *cache.Cache, a ...string) (string, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	raw, hit, err := c.Get(ctx, args(a...))
	return string(raw), hit, err
}

// TestClusterCache fills the cache from every primary of a 3-primary cluster: entries hit,
// a write made straight on a key's primary or through the cluster client invalidates it
// (after Sync, deterministically), and the memory bound holds over all shards.
func TestClusterCache(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 0)
	const maxBytes = 64 << 10
	cl, c := openCluster(t, rc, time.Hour, maxBytes)
	var keys []string
	for i := range rc.Primaries {
		for j := range 5 {
			keys = append(keys, keyOn(rc, i, fmt.Sprintf("p%dk%d-", i, j)))
		}
	}
	for _, k := range keys {
		server(t, rc, cl.Owner([]byte(k))).MustDo("SET", k, "v1")
		if raw, hit := get(t, c, "GET", k); hit || raw != bulk("v1") {
			t.Fatalf("first GET %s: %q hit=%v", k, raw, hit)
		}
		if raw, hit := get(t, c, "GET", k); !hit || raw != bulk("v1") {
			t.Fatalf("second GET %s: %q hit=%v", k, raw, hit)
		}
	}
	for i, k := range keys {
		if i%2 == 0 {
			server(t, rc, cl.Owner([]byte(k))).MustDo("SET", k, "v2") // straight on its primary
		} else if r := gateway(t, cl, "SET", k, "v2"); r != "+OK\r\n" {
			t.Fatalf("SET %s: %q", k, r)
		}
	}
	syncCache(c)
	for _, k := range keys {
		if raw, _ := get(t, c, "GET", k); raw != bulk("v2") {
			t.Errorf("GET %s after a write and Sync: %q, want v2", k, raw)
		}
	}
	// The memory bound holds over the shards together.
	big := strings.Repeat("x", 1000)
	for i := range 300 {
		k := keyOn(rc, i%3, fmt.Sprintf("big%d-", i))
		server(t, rc, cl.Owner([]byte(k))).MustDo("SET", k, big)
		get(t, c, "GET", k)
	}
	st := c.Stats()
	if st.Bytes > maxBytes || st.Evictions == 0 || st.Entries == 0 {
		t.Errorf("memory bound %d: stats %+v", maxBytes, st)
	}
}

// TestClusterCacheSlotMoved moves slots holding cached reads to another primary behind the
// cluster client's back (its slot map is not reloaded by itself), then writes the keys
// straight on their new primary: no read answers the value they had before.
func TestClusterCacheSlotMoved(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 0)
	cl, c := openCluster(t, rc, time.Hour, 0)
	p0, p1 := rc.Primaries[0], rc.Primaries[1]
	present := keyOn(rc, 0, "present")
	absent := keyOn(rc, 0, "absent", cluster.Slot([]byte(present)))
	later := keyOn(rc, 0, "later", cluster.Slot([]byte(present)), cluster.Slot([]byte(absent)))
	p0.MustDo("SET", present, "old")
	for range 2 {
		get(t, c, "GET", present)
		get(t, c, "GET", absent)
		get(t, c, "GET", later)
	}
	if st := c.Stats(); st.Hits != 3 {
		t.Fatalf("stats before the move %+v, want 3 hits", st)
	}
	for _, k := range []string{present, absent, later} {
		s := cluster.Slot([]byte(k))
		rc.MoveSlots(t, p0, p1, s, s)
		p1.MustDo("SET", k, "new")
	}
	syncCache(c)
	// present was migrated: MIGRATE deleted it from p0, which invalidated it. Its read goes
	// to p0 still (the client does not know yet) and is redirected: the caller runs it.
	raw, _, err := tryGet(c, "GET", present)
	if err == nil && raw != bulk("new") || err != nil && !errors.Is(err, cache.ErrRedirected) {
		t.Errorf("GET %s after its slot moved: %q, %v; want the new value or ErrRedirected", present, raw, err)
	}
	// absent had no key to migrate: its entry is dropped once the client learns of the move,
	// here by a command of the gateway's meeting MOVED, before that command is answered.
	if r := gateway(t, cl, "GET", absent); r != bulk("new") {
		t.Fatalf("GET %s through the cluster: %q", absent, r)
	}
	if raw, _, err := tryGet(c, "GET", absent); err != nil || raw != bulk("new") {
		t.Errorf("GET %s once the move is known: %q, %v; want new", absent, raw, err)
	}
	// The other moves are learned by a reload of the slot map (which MOVED also prompted).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cl.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{present, later} {
		if raw, _, err := tryGet(c, "GET", k); err != nil || raw != bulk("new") {
			t.Errorf("GET %s after a reload: %q, %v; want new", k, raw, err)
		}
	}
	if raw, hit, err := tryGet(c, "GET", later); err != nil || !hit || raw != bulk("new") {
		t.Errorf("GET %s again: %q hit=%v %v; want a hit on its new primary", later, raw, hit, err)
	}
}

// TestClusterCacheFailover fails a shard over twice, gracefully (the old primary stays up,
// as a replica) then by kill -9, writing the cached key straight on the new primary each time:
// no read answers the value it had before.
func TestClusterCacheFailover(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 1)
	cl, c := openCluster(t, rc, 200*time.Millisecond, 0)
	p0, r0 := rc.Primaries[0], rc.Replicas[0][0]
	k := keyOn(rc, 0, "k")
	p0.MustDo("SET", k, "v1")
	get(t, c, "GET", k)
	if _, hit := get(t, c, "GET", k); !hit {
		t.Fatal("no hit before the failover")
	}
	r0.MustDo("CLUSTER", "FAILOVER")
	redistest.WaitFor(t, 10*time.Second, func() bool {
		v, err := r0.Do("ROLE")
		return err == nil && fmt.Sprint(v.([]any)[0]) == "master"
	}, "replica promoted")
	r0.MustDo("SET", k, "v2")
	// Graceful failover. The window: until p0 learns of its demotion and replicates the write (which invalidates
	// the keys read on it), or the cache sees ROLE change (every PingInterval), or the client
	// reloads its slot map, the entry read on p0 may still be served. Past it, never.
	ss := p0.Session(t)
	if _, err := ss.Do("READONLY"); err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 5*time.Second, func() bool { v, _ := ss.Do("GET", k); return v == "v2" }, "the write replicated to the old primary")
	syncCache(c)
	stale := func(want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			raw, _, err := tryGet(c, "GET", k)
			switch {
			case err == nil && raw == bulk(want):
				return
			case err == nil && raw != bulk(want):
				t.Fatalf("GET %s after the failover: %q, want %s", k, raw, want)
			case time.Now().After(deadline):
				t.Fatalf("GET %s after the failover: %v", k, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	stale("v2")
	redistest.WaitFor(t, 5*time.Second, func() bool { return cl.Owner([]byte(k)) == r0.Addr && c.On() }, "cache on the new primary")
	get(t, c, "GET", k)
	if raw, hit := get(t, c, "GET", k); !hit || raw != bulk("v2") {
		t.Fatalf("GET %s on the new primary: %q hit=%v", k, raw, hit)
	}
	// Now r0 dies; p0, its replica again, takes over.
	r0.Kill()
	redistest.WaitFor(t, 15*time.Second, func() bool {
		v, err := p0.Do("ROLE")
		return err == nil && fmt.Sprint(v.([]any)[0]) == "master"
	}, "old primary promoted again")
	p0.MustDo("SET", k, "v3")
	stale("v3")
}

// TestClusterCacheDemotedPrimary fails a shard over gracefully while the cluster client does
// not reload its slot map: the cache notices by itself (ROLE, every PingInterval) that the
// primary it filled from is now a replica, drops every entry, and stops filling from it.
func TestClusterCacheDemotedPrimary(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 1)
	cl, c := openCluster(t, rc, time.Hour, 0)
	p0, r0 := rc.Primaries[0], rc.Replicas[0][0]
	k, other := keyOn(rc, 0, "k"), keyOn(rc, 1, "o")
	p0.MustDo("SET", k, "v1")
	for range 2 {
		get(t, c, "GET", k)
		get(t, c, "GET", other)
	}
	before := c.Stats()
	if before.Entries != 2 {
		t.Fatalf("stats before the failover %+v", before)
	}
	r0.MustDo("CLUSTER", "FAILOVER")
	redistest.WaitFor(t, 5*time.Second, func() bool { return c.Stats().Flushes > before.Flushes }, "the cache flushed after its primary's demotion")
	if st := c.Stats(); st.Entries != 0 || st.On {
		t.Errorf("stats after the demotion %+v: want no entry, and off for the demoted primary's keys", st)
	}
	if cl.Owner([]byte(k)) != p0.Addr {
		t.Fatal("the cluster client reloaded its slot map: the test no longer shows what it claims")
	}
	if _, _, err := tryGet(c, "GET", k); !errors.Is(err, cache.ErrOff) {
		t.Errorf("GET %s of the demoted primary's slots: %v, want ErrOff", k, err)
	}
	if raw, _, err := tryGet(c, "GET", other); err != nil || raw != "$-1\r\n" {
		t.Errorf("GET %s of another shard: %q %v", other, raw, err)
	}
}
