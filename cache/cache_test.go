package cache_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/redisgate/redisgate/cache"
	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/pool"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newCache returns a Cache in front of rs that is on.
func newCache(t *testing.T, rs *redistest.Server, f func(*cache.Options)) *cache.Cache {
	t.Helper()
	ro, err := pool.ParseURL(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	o := cache.Options{Redis: ro, Logger: slog.New(slog.DiscardHandler), PingInterval: 100 * time.Millisecond, Timeout: 500 * time.Millisecond}
	if f != nil {
		f(&o)
	}
	c := cache.New(o)
	t.Cleanup(func() { c.Close() })
	waitOn(t, c)
	return c
}

func waitOn(t *testing.T, c *cache.Cache) {
	t.Helper()
	redistest.WaitFor(t, 5*time.Second, c.On, "cache on")
}

func args(a ...string) [][]byte {
	out := make([][]byte, len(a))
	for i, s := range a {
		out[i] = []byte(s)
	}
	return out
}

// get runs Get and returns the reply as text.
func get(t *testing.T, c *cache.Cache, a ...string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	raw, hit, err := c.Get(ctx, args(a...))
	if err != nil {
		t.Fatalf("Get %q: %v", a, err)
	}
	return string(raw), hit
}

func bulk(s string) string { return "$" + strconv.Itoa(len(s)) + "\r\n" + s + "\r\n" }

func TestHitAfterMiss(t *testing.T) {
	rs := redistest.Start(t)
	c := newCache(t, rs, nil)
	rs.MustDo("SET", "k", "v1")
	if raw, hit := get(t, c, "GET", "k"); hit || raw != bulk("v1") {
		t.Fatalf("first Get: %q hit=%v", raw, hit)
	}
	if raw, hit := get(t, c, "get", "k"); !hit || raw != bulk("v1") {
		t.Fatalf("second Get (name in lower case): %q hit=%v", raw, hit)
	}
	// A missing key is cached too, and creating it invalidates it.
	if raw, _ := get(t, c, "GET", "nokey"); raw != "$-1\r\n" {
		t.Fatalf("missing key: %q", raw)
	}
	if _, hit := get(t, c, "GET", "nokey"); !hit {
		t.Fatal("missing key not cached")
	}
	rs.MustDo("SET", "nokey", "now")
	waitFresh(t, c, bulk("now"), "GET", "nokey")
	s := c.Stats()
	if s.Hits < 2 || s.Misses < 3 || !s.On || s.Entries < 1 {
		t.Errorf("stats %+v", s)
	}
}

// waitFresh reads until the reply is want, failing after a second.
func waitFresh(t *testing.T, c *cache.Cache, want string, a ...string) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		raw, _ := get(t, c, a...)
		if raw == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q still answers %q, want %q", a, raw, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitCached reads until the reply is want and comes from the cache (a fill that raced the
// invalidation of an earlier write is not kept), failing after a second.
func waitCached(t *testing.T, c *cache.Cache, want string, a ...string) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		raw, hit := get(t, c, a...)
		if raw == want && hit {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q answers %q (hit %v), want %q from the cache", a, raw, hit, want)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func TestNotCacheable(t *testing.T) {
	for _, a := range [][]string{{"TTL", "k"}, {"PTTL", "k"}, {"SET", "k", "v"}, {"EXISTS", "a", "b"}, {"MGET", "a", "b"}, {"GET"}, {"SRANDMEMBER", "s"}, {"TIME"}} {
		if cache.Cacheable(args(a...)) {
			t.Errorf("%q cacheable", a)
		}
	}
	for _, a := range [][]string{{"GET", "k"}, {"hgetall", "h"}, {"EXISTS", "a"}, {"ZRANGE", "z", "0", "-1", "WITHSCORES"}} {
		if !cache.Cacheable(args(a...)) {
			t.Errorf("%q not cacheable", a)
		}
	}
	rs := redistest.Start(t)
	c := newCache(t, rs, nil)
	if _, _, err := c.Get(context.Background(), args("TTL", "k")); err != cache.ErrNotCacheable {
		t.Errorf("TTL: %v", err)
	}
}

// TestDirectWriteInvalidates writes straight to Redis 1,000 times and measures how long the
// invalidation takes to reach the cache (from the write's acknowledgement to the entry's
// eviction); after that, no read may be stale. Reads made right after the acknowledgement,
// inside that delay, are counted.
func TestDirectWriteInvalidates(t *testing.T) {
	rs := redistest.Start(t)
	c := newCache(t, rs, nil)
	direct := dialRaw(t, rs)
	const tries = 1000
	delays := make([]time.Duration, 0, tries)
	staleInDelay := 0
	for i := range tries {
		old, next := "v"+strconv.Itoa(i), "v"+strconv.Itoa(i+1)
		direct.do(t, "SET", "k", old)
		c.Sync(context.Background()) // its invalidation is applied: the entry below is filled after it
		waitCached(t, c, bulk(old), "GET", "k")
		inv := c.Stats().Invalidations
		direct.do(t, "SET", "k", next)
		acked := time.Now()
		if raw, _ := get(t, c, "GET", "k"); raw == bulk(old) {
			staleInDelay++
		}
		for c.Stats().Invalidations == inv {
			if time.Since(acked) > 2*time.Second {
				t.Fatalf("try %d: no invalidation within 2s", i)
			}
			time.Sleep(10 * time.Microsecond)
		}
		delays = append(delays, time.Since(acked))
		if raw, _ := get(t, c, "GET", "k"); raw != bulk(next) {
			t.Fatalf("try %d: stale read after the invalidation: %q, want %q", i, raw, next)
		}
	}
	slices.Sort(delays)
	t.Logf("invalidation delay over %d direct writes: p50 %v, p99 %v, max %v; reads right after the write that were stale: %d",
		tries, delays[tries/2], delays[tries*99/100], delays[tries-1], staleInDelay)
}

// TestStrictNeverStale checks that with Options.Strict a read right after a direct write
// never returns the value the write replaced.
func TestStrictNeverStale(t *testing.T) {
	rs := redistest.Start(t)
	c := newCache(t, rs, func(o *cache.Options) { o.Strict = true })
	direct := dialRaw(t, rs)
	hits := 0
	for i := range 1000 {
		old, next := "v"+strconv.Itoa(i), "v"+strconv.Itoa(i+1)
		direct.do(t, "SET", "k", old)
		waitCached(t, c, bulk(old), "GET", "k")
		direct.do(t, "SET", "k", next)
		raw, hit := get(t, c, "GET", "k")
		if raw != bulk(next) {
			t.Fatalf("try %d: stale read right after the write: %q", i, raw)
		}
		if hit {
			hits++
		}
	}
	if hits > 0 {
		t.Errorf("%d reads right after a write were hits", hits)
	}
}

// TestSyncBarrier checks that after Sync no read returns a value older than a write
// acknowledged before it, with readers and a direct writer running concurrently.
func TestSyncBarrier(t *testing.T) {
	rs := redistest.Start(t)
	c := newCache(t, rs, nil)
	direct := dialRaw(t, rs)
	direct.do(t, "SET", "n", "0")
	var committed atomic.Int64 // the last value written and synced
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				floor := committed.Load()
				raw, _, err := c.Get(context.Background(), args("GET", "n"))
				if err != nil {
					errs <- err
					return
				}
				v, err := strconv.ParseInt(strings.Split(string(raw), "\r\n")[1], 10, 64)
				if err != nil || v < floor {
					errs <- fmt.Errorf("read %q after %d was committed", raw, floor)
					return
				}
			}
		}()
	}
	for i := int64(1); i <= 500; i++ {
		direct.do(t, "SET", "n", strconv.FormatInt(i, 10))
		c.Sync(context.Background())
		committed.Store(i)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s := c.Stats()
	t.Logf("stats %+v", s)
	if s.Hits == 0 {
		t.Error("no hits")
	}
}

// TestKillInvalidationConnection kills the invalidation connection on the server side: the
// cache flushes itself and stays off until it has a new one, and no read is stale afterwards.
func TestKillInvalidationConnection(t *testing.T) {
	rs := redistest.Start(t)
	c := newCache(t, rs, nil)
	direct := dialRaw(t, rs)
	for round := range 3 {
		v := "r" + strconv.Itoa(round)
		direct.do(t, "SET", "k", v)
		waitCached(t, c, bulk(v), "GET", "k")
		flushes := c.Stats().Flushes
		rs.KillClients("redisgate-invalidate")
		redistest.WaitFor(t, 2*time.Second, func() bool { return c.Stats().Flushes > flushes }, "flush after the kill")
		direct.do(t, "SET", "k", v+"-after")
		// Off (ErrOff: the gateway reads the usual way) or back on and empty: never the old value.
		if raw, _, err := c.Get(context.Background(), args("GET", "k")); err == nil && string(raw) != bulk(v+"-after") {
			t.Fatalf("round %d: stale read after the kill: %q", round, raw)
		} else if err != nil && err != cache.ErrOff {
			t.Fatalf("round %d: %v", round, err)
		}
		waitOn(t, c)
		if raw, _ := get(t, c, "GET", "k"); raw != bulk(v+"-after") {
			t.Fatalf("round %d: %q", round, raw)
		}
		// The new redirect works: a direct write still invalidates.
		direct.do(t, "SET", "k", v+"-again")
		waitFresh(t, c, bulk(v+"-again"), "GET", "k")
	}
}

// TestKillTrackedConnection kills the connections that read for the cache: Redis forgets
// what they read, so the cache must flush, and invalidation must work on their successors.
func TestKillTrackedConnection(t *testing.T) {
	rs := redistest.Start(t)
	c := newCache(t, rs, nil)
	direct := dialRaw(t, rs)
	direct.do(t, "SET", "k", "a")
	waitCached(t, c, bulk("a"), "GET", "k")
	flushes := c.Stats().Flushes
	rs.KillClients("redisgate-cache")
	redistest.WaitFor(t, 2*time.Second, func() bool { return c.Stats().Flushes > flushes }, "flush after the kill")
	// Until the tracked connections are back, fills fail (callers then read elsewhere).
	redistest.WaitFor(t, 2*time.Second, func() bool {
		_, _, err := c.Get(context.Background(), args("GET", "other"))
		return err == nil
	}, "tracked connections back")
	direct.do(t, "SET", "k", "b")
	waitFresh(t, c, bulk("b"), "GET", "k")
	waitCached(t, c, bulk("b"), "GET", "k")
	direct.do(t, "SET", "k", "c")
	waitFresh(t, c, bulk("c"), "GET", "k")
}

func TestFlushAllAndExpiry(t *testing.T) {
	rs := redistest.Start(t, "--enable-debug-command", "yes")
	c := newCache(t, rs, nil)
	direct := dialRaw(t, rs)
	direct.do(t, "SET", "k", "v")
	waitCached(t, c, bulk("v"), "GET", "k")
	direct.do(t, "FLUSHALL")
	waitFresh(t, c, "$-1\r\n", "GET", "k")

	// Redis deletes an expired key (and invalidates it) only when it gets to it; the entry
	// must not outlive the key anyway.
	direct.do(t, "DEBUG", "SET-ACTIVE-EXPIRE", "0")
	direct.do(t, "SET", "e", "v", "PX", "150")
	waitCached(t, c, bulk("v"), "GET", "e")
	time.Sleep(200 * time.Millisecond)
	if raw, _ := get(t, c, "GET", "e"); raw != "$-1\r\n" {
		t.Fatalf("expired key answered %q", raw)
	}
}

func TestMaxTTL(t *testing.T) {
	rs := redistest.Start(t)
	c := newCache(t, rs, func(o *cache.Options) { o.MaxTTL = 100 * time.Millisecond })
	rs.MustDo("SET", "k", "v")
	waitCached(t, c, bulk("v"), "GET", "k")
	time.Sleep(150 * time.Millisecond)
	if _, hit := get(t, c, "GET", "k"); hit {
		t.Fatal("entry outlived MaxTTL")
	}
}

func TestErrorsNotCached(t *testing.T) {
	rs := redistest.Start(t)
	c := newCache(t, rs, nil)
	rs.MustDo("LPUSH", "l", "x")
	for range 2 {
		if raw, hit := get(t, c, "GET", "l"); hit || !strings.HasPrefix(raw, "-WRONGTYPE") {
			t.Fatalf("%q hit=%v", raw, hit)
		}
	}
}

func TestOffWithoutRedis(t *testing.T) {
	rs := redistest.Start(t)
	ro, _ := pool.ParseURL(rs.URL())
	rs.Kill()
	ro.DialTimeout = 100 * time.Millisecond
	c := cache.New(cache.Options{Redis: ro, Logger: slog.New(slog.DiscardHandler), Timeout: 100 * time.Millisecond})
	defer c.Close()
	if _, _, err := c.Get(context.Background(), args("GET", "k")); err != cache.ErrOff {
		t.Fatalf("Get: %v, want ErrOff", err)
	}
	c.Sync(context.Background()) // returns at once
}

// rawConn is one connection to Redis for the test's direct writes, without the gateway.
type rawConn struct{ p *pool.Pool }

func dialRaw(t *testing.T, rs *redistest.Server) *rawConn {
	o, err := pool.ParseURL(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	o.Size, o.ClientName, o.Logger = 1, "test-direct", slog.New(slog.DiscardHandler)
	p := pool.New(o)
	t.Cleanup(func() { p.Close() })
	return &rawConn{p: p}
}

func (r *rawConn) do(t *testing.T, a ...string) string {
	t.Helper()
	b := pool.NewBatch(1)
	b.Add(args(a...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := r.p.Do(ctx, b); err != nil {
		t.Fatalf("%q: %v", a, err)
	}
	defer b.Release()
	return string(b.Reply(0))
}

// TestKeepForms stores encodings with an entry: hits return them, they count against the
// byte bound, an invalidation drops them with the entry, and an encoding of a reply the entry
// no longer holds is not kept.
func TestKeepForms(t *testing.T) {
	rs := redistest.Start(t)
	c := newCache(t, rs, nil)
	rs.MustDo("SET", "k", "v1")
	ctx := context.Background()
	text := func(v any) string {
		b, _ := v.([]byte)
		return string(b)
	}
	raw, v, hit, err := c.GetForm(ctx, args("GET", "k"), 1)
	if err != nil || hit || v != nil {
		t.Fatalf("first GetForm: %v hit %v err %v", v, hit, err)
	}
	before := c.Stats().Bytes
	c.Keep(args("GET", "k"), 1, raw, []byte("encoded v1"), len("encoded v1"))
	if grown := c.Stats().Bytes - before; grown != len("encoded v1") {
		t.Errorf("Keep grew the cache by %d bytes, want %d", grown, len("encoded v1"))
	}
	if _, v, hit, _ := c.GetForm(ctx, args("get", "k"), 1); !hit || text(v) != "encoded v1" {
		t.Errorf("hit of form 1: %v hit %v", v, hit)
	}
	if _, v, hit, _ := c.GetForm(ctx, args("GET", "k"), 0); !hit || v != nil {
		t.Errorf("hit of form 0, never kept: %v hit %v", v, hit)
	}
	rs.MustDo("SET", "k", "v2")
	c.Sync(ctx)
	raw2, v, hit, _ := c.GetForm(ctx, args("GET", "k"), 1)
	if hit || v != nil || string(raw2) != bulk("v2") {
		t.Fatalf("after a write: raw %q %v hit %v", raw2, v, hit)
	}
	c.Keep(args("GET", "k"), 1, raw, []byte("encoded v1"), len("encoded v1")) // raw of the replaced entry
	if _, v, _, _ := c.GetForm(ctx, args("GET", "k"), 1); v != nil {
		t.Errorf("an encoding of the old reply was kept with the new entry: %v", v)
	}
}

// TestConcurrentMissesShareOneFill sends 20 Gets of a missing entry while Redis is frozen,
// so that all are waiting at once: Redis then runs one GET for all of them.
func TestConcurrentMissesShareOneFill(t *testing.T) {
	rs := redistest.Start(t)
	c := newCache(t, rs, nil)
	rs.MustDo("SET", "hot", "v")
	rs.MustDo("CONFIG", "RESETSTAT")
	rs.Freeze()
	const n = 20
	var wg sync.WaitGroup
	replies := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			raw, _, err := c.Get(ctx, args("GET", "hot"))
			replies[i], errs[i] = string(raw), err
		}()
	}
	redistest.WaitFor(t, 2*time.Second, func() bool { return c.Stats().Coalesced == n-1 }, "19 Gets joining the first one's fill")
	rs.Thaw()
	wg.Wait()
	for i := range n {
		if errs[i] != nil || replies[i] != bulk("v") {
			t.Errorf("Get %d: %q %v", i, replies[i], errs[i])
		}
	}
	stats := fmt.Sprint(rs.MustDo("INFO", "commandstats"))
	if !strings.Contains(stats, "cmdstat_get:calls=1,") {
		t.Errorf("Redis ran GET other than once:\n%s", stats)
	}
	if _, hit := get(t, c, "GET", "hot"); !hit {
		t.Error("the shared fill was not kept")
	}
}

// TestRedialMovesTheCache moves a cache to another server: it is emptied, and its reads and
// invalidations then come from the new one.
func TestRedialMovesTheCache(t *testing.T) {
	a, b := redistest.Start(t), redistest.Start(t)
	var target atomic.Value
	target.Store(a.Addr)
	c := newCache(t, a, func(o *cache.Options) { o.Redis.Resolve = func() string { return target.Load().(string) } })
	a.MustDo("SET", "k", "on a")
	b.MustDo("SET", "k", "on b")
	get(t, c, "GET", "k")
	if raw, hit := get(t, c, "GET", "k"); !hit || raw != bulk("on a") {
		t.Fatalf("before Redial: %q hit=%v", raw, hit)
	}
	target.Store(b.Addr)
	c.Redial()
	redistest.WaitFor(t, 5*time.Second, func() bool {
		list := fmt.Sprint(b.MustDo("CLIENT", "LIST"))
		return c.On() && strings.Contains(list, "name=redisgate-invalidate") && strings.Contains(list, "name=redisgate-cache")
	}, "the cache on the second server")
	if raw, _ := get(t, c, "GET", "k"); raw != bulk("on b") {
		t.Fatalf("after Redial: %q, want the second server's value", raw)
	}
	b.MustDo("SET", "k", "written on b")
	c.Sync(context.Background())
	if raw, _ := get(t, c, "GET", "k"); raw != bulk("written on b") {
		t.Errorf("after a write on the second server: %q", raw)
	}
	if list := fmt.Sprint(a.MustDo("CLIENT", "LIST")); strings.Contains(list, "name=redisgate-") {
		t.Errorf("connections left on the first server:\n%s", list)
	}
}
