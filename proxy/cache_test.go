package proxy_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redisgate/redisgate/cache"
	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/proxy"
)

// withCache gives the gateway's database a read cache changed by f (which may be nil) and
// stores it in *out; the test waits until it is on.
func withCache(t testing.TB, out **cache.Cache, f func(*cache.Options)) gatewayOption {
	return func(c *gatewayConfig) {
		c.database = append(c.database, func(db *proxy.Database, redis pool.Options) {
			redis.Size = 2
			o := cache.Options{Redis: redis, Logger: slog.New(slog.DiscardHandler), PingInterval: 100 * time.Millisecond, Timeout: 500 * time.Millisecond}
			if f != nil {
				f(&o)
			}
			k := cache.New(o)
			t.Cleanup(func() { k.Close() }) // after the server's Shutdown, registered later
			redistest.WaitFor(t, 5*time.Second, k.On, "cache on")
			db.Cache = k
			*out = k
		})
	}
}

// withEdge gives the gateway's database edge caching.
func withEdge(e cache.Edge) gatewayOption {
	return func(c *gatewayConfig) {
		c.database = append(c.database, func(db *proxy.Database, _ pool.Options) { db.Edge = e })
	}
}

// readUntilHit reads path until the cache answered it with body.
func readUntilHit(t *testing.T, g *gateway, k *cache.Cache, path, body string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		hits := k.Stats().Hits
		r := g.req("GET", path, "")
		if r.body == body && k.Stats().Hits > hits {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %d %s, want %s from the cache", path, r.status, r.body, body)
		}
	}
}

// TestCacheDirectWriteInvalidates writes straight to Redis (not through the gateway) 1,000
// times while the key is cached. Even tries measure the invalidation delay (write
// acknowledged → entry evicted), odd ones read through the gateway right after the write's
// acknowledgement, inside that delay; every try then reads again once the invalidation has
// arrived, which is never stale. With Options.Strict, no read is stale at all.
func TestCacheDirectWriteInvalidates(t *testing.T) {
	for _, strict := range []bool{false, true} {
		t.Run(fmt.Sprintf("strict=%v", strict), func(t *testing.T) {
			var k *cache.Cache
			g := startGateway(t, withCache(t, &k, func(o *cache.Options) { o.Strict = strict }))
			const tries = 1000
			var delays []time.Duration
			staleInDelay := 0
			for i := range tries {
				old, next := "v"+strconv.Itoa(i), "v"+strconv.Itoa(i+1)
				directDo(t, g.pool, "SET", "k", old)
				k.Sync(context.Background()) // the entry below is filled after this write's invalidation
				readUntilHit(t, g, k, "/get/k", `{"result":"`+old+`"}`)
				inv := k.Stats().Invalidations
				directDo(t, g.pool, "SET", "k", next)
				acked := time.Now()
				if i%2 == 1 {
					if r := g.req("GET", "/get/k", ""); r.body == `{"result":"`+old+`"}` {
						staleInDelay++
					}
				}
				for k.Stats().Invalidations == inv {
					if time.Since(acked) > 2*time.Second {
						t.Fatalf("try %d: no invalidation within 2s", i)
					}
					time.Sleep(5 * time.Microsecond)
				}
				if i%2 == 0 {
					delays = append(delays, time.Since(acked))
				}
				g.req("GET", "/get/k", "").expect(t, 200, `{"result":"`+next+`"}`)
				if t.Failed() {
					t.Fatalf("try %d: stale read after the invalidation", i)
				}
			}
			slices.Sort(delays)
			n := len(delays)
			t.Logf("invalidation delay (direct write acknowledged → entry evicted), %d writes: p50 %v, p99 %v, max %v; "+
				"gateway reads sent right after the acknowledgement that were stale: %d of %d",
				n, delays[n/2], delays[n*99/100], delays[n-1], staleInDelay, tries/2)
			if strict && staleInDelay > 0 {
				t.Errorf("strict: %d stale reads", staleInDelay)
			}
		})
	}
}

// TestCacheReadYourWrites writes through the gateway and reads right after: the gateway
// answers a write only once its invalidation reached the cache, so no read is stale.
func TestCacheReadYourWrites(t *testing.T) {
	var k *cache.Cache
	g := startGateway(t, withCache(t, &k, nil))
	for i := range 1000 {
		v := "v" + strconv.Itoa(i)
		g.req("GET", "/set/k/"+v, "").expect(t, 200, `{"result":"OK"}`)
		g.req("GET", "/get/k", "").expect(t, 200, `{"result":"`+v+`"}`)
		g.req("POST", "/", `["GET","k"]`).expect(t, 200, `{"result":"`+v+`"}`)
		if t.Failed() {
			t.Fatalf("try %d", i)
		}
	}
	if s := k.Stats(); s.Hits < 500 || s.Invalidations < 900 {
		t.Errorf("the cache was hardly used: %+v", s)
	}
}

// TestCacheInvalidationConnectionKilled kills the cache's invalidation connection on the
// server side: the cache flushes itself, no read through the gateway is stale afterwards,
// and caching resumes once a new invalidation connection is up.
func TestCacheInvalidationConnectionKilled(t *testing.T) {
	var k *cache.Cache
	g := startGateway(t, withCache(t, &k, nil))
	for round := range 3 {
		v := "r" + strconv.Itoa(round)
		directDo(t, g.pool, "SET", "k", v)
		k.Sync(context.Background())
		readUntilHit(t, g, k, "/get/k", `{"result":"`+v+`"}`)
		flushes := k.Stats().Flushes
		g.redis.KillClients("redisgate-invalidate")
		redistest.WaitFor(t, 2*time.Second, func() bool { return k.Stats().Flushes > flushes }, "flush")
		directDo(t, g.pool, "SET", "k", v+"-after")
		for range 20 { // while the cache is off, and after it is back
			g.req("GET", "/get/k", "").expect(t, 200, `{"result":"`+v+`-after"}`)
		}
		redistest.WaitFor(t, 5*time.Second, k.On, "cache back on")
		readUntilHit(t, g, k, "/get/k", `{"result":"`+v+`-after"}`)
		directDo(t, g.pool, "SET", "k", v+"-again")
		k.Sync(context.Background())
		g.req("GET", "/get/k", "").expect(t, 200, `{"result":"`+v+`-again"}`)
		if t.Failed() {
			t.Fatalf("round %d", round)
		}
	}
}

// TestCacheBypass checks what never goes through the cache, and that both JSON and resp2
// answers come from cached raw replies.
func TestCacheBypass(t *testing.T) {
	var k *cache.Cache
	g := startGateway(t, withCache(t, &k, nil))
	g.req("GET", "/set/k/v", "").expect(t, 200, `{"result":"OK"}`)
	readUntilHit(t, g, k, "/get/k", `{"result":"v"}`)

	hits := k.Stats().Hits
	if r := g.req("GET", "/get/k", "", "Upstash-Response-Format", "resp2"); r.body != "$1\r\nv\r\n" || k.Stats().Hits != hits+1 {
		t.Errorf("resp2: %q, hits %d → %d", r.body, hits, k.Stats().Hits)
	}
	if r := g.req("GET", "/get/k", "", "Upstash-Encoding", "base64"); r.body != `{"result":"dg=="}` {
		t.Errorf("base64: %q", r.body)
	}
	before := k.Stats()
	for _, tt := range []struct {
		name    string
		method  string
		path    string
		body    string
		headers []string
	}{
		{"strong", "GET", "/get/k", "", []string{"Redisgate-Consistency", "strong"}},
		{"positional sync token", "GET", "/get/k", "", []string{"Upstash-Sync-Token", strings.Repeat("a", 40) + "-100-1"}},
		{"pipeline", "POST", "/pipeline", `[["GET","k"]]`, nil},
		{"multi-exec", "POST", "/multi-exec", `[["GET","k"]]`, nil},
		{"TTL", "GET", "/ttl/k", "", nil},
	} {
		r := g.req(tt.method, tt.path, tt.body, tt.headers...)
		if r.status != 200 {
			t.Errorf("%s: %d %s", tt.name, r.status, r.body)
		}
		if s := k.Stats(); s.Hits != before.Hits || s.Misses != before.Misses {
			t.Errorf("%s went through the cache", tt.name)
		}
	}
	// An opaque sync token (what a database without replicas hands out) does not bypass.
	g.req("GET", "/get/k", "", "Upstash-Sync-Token", "0123abcd-5").expect(t, 200, `{"result":"v"}`)
	if k.Stats().Hits != before.Hits+1 {
		t.Error("opaque sync token bypassed the cache")
	}
}

// TestEdgeCaching checks Cache-Control, ETag and If-None-Match on GET answers of read
// commands whose token is in the URL, and their absence everywhere else; with the read cache
// too, whose kept answers carry an ETag computed once.
func TestEdgeCaching(t *testing.T) {
	t.Run("read cache off", func(t *testing.T) { testEdgeCaching(t) })
	t.Run("read cache on", func(t *testing.T) {
		var k *cache.Cache
		testEdgeCaching(t, withCache(t, &k, nil))
		if st := k.Stats(); st.Hits < 5 {
			t.Errorf("%d cache hits: the kept answers were not exercised", st.Hits)
		}
	})
}

func testEdgeCaching(t *testing.T, opts ...gatewayOption) {
	g := startGateway(t, append(opts, withEdge(cache.Edge{MaxAge: 10 * time.Second, StaleWhileRevalidate: 30 * time.Second}))...)
	q := "?_token=" + rwToken
	noAuth := []string{"Authorization", ""}
	g.req("GET", "/set/k/v1"+q, "", noAuth...).expect(t, 200, `{"result":"OK"}`)

	r := g.req("GET", "/get/k"+q, "", noAuth...)
	r.expect(t, 200, `{"result":"v1"}`)
	etag := r.header.Get("ETag")
	if cc := r.header.Get("Cache-Control"); cc != "public, max-age=10, stale-while-revalidate=30" {
		t.Errorf("Cache-Control %q", cc)
	}
	if len(etag) != 34 || !strings.HasPrefix(etag, `"`) || !strings.Contains(strings.Join(r.header.Values("Vary"), ","), "Upstash-Encoding") {
		t.Errorf("ETag %q, Vary %q", etag, r.header.Values("Vary"))
	}
	nm := g.req("GET", "/get/k"+q, "", "Authorization", "", "If-None-Match", etag)
	if nm.status != 304 || nm.body != "" || nm.header.Get("ETag") != etag || nm.header.Get("Cache-Control") == "" {
		t.Errorf("If-None-Match: %d %q %v", nm.status, nm.body, nm.header)
	}
	if r := g.req("GET", "/get/k"+q, "", "Authorization", "", "If-None-Match", `"other", W/`+etag); r.status != 304 {
		t.Errorf("weak match in a list: %d", r.status)
	}
	if r := g.req("GET", "/get/k"+q, "", "Authorization", "", "If-None-Match", `"other"`); r.status != 200 || r.body != `{"result":"v1"}` {
		t.Errorf("no match: %d %q", r.status, r.body)
	}
	for _, h := range [][]string{{"Upstash-Encoding", "base64"}, {"Upstash-Response-Format", "resp2"}} {
		r := g.req("GET", "/get/k"+q, "", "Authorization", "", h[0], h[1])
		if e := r.header.Get("ETag"); r.status != 200 || e == "" || e == etag {
			t.Errorf("%s: %d ETag %q (JSON's %q)", h[1], r.status, e, etag)
		}
	}
	g.req("GET", "/set/k/v2"+q, "", noAuth...).expect(t, 200, `{"result":"OK"}`)
	if r := g.req("GET", "/get/k"+q, "", "Authorization", "", "If-None-Match", etag); r.status != 200 || r.body != `{"result":"v2"}` || r.header.Get("ETag") == etag {
		t.Errorf("after a write: %d %q ETag %q", r.status, r.body, r.header.Get("ETag"))
	}

	g.req("GET", "/lpush/list/a"+q, "", noAuth...)
	for _, tt := range []struct {
		name    string
		method  string
		path    string
		body    string
		headers []string
	}{
		{"write", "GET", "/set/k/v3" + q, "", noAuth},
		{"write, If-None-Match", "GET", "/incr/n" + q, "", []string{"Authorization", "", "If-None-Match", "*"}},
		{"token in the header", "GET", "/get/k", "", nil},
		{"POST", "POST", "/get/k" + q, "", noAuth},
		{"HEAD", "HEAD", "/get/k" + q, "", noAuth},
		{"JSON command", "POST", "/" + q, `["GET","k"]`, noAuth},
		{"error", "GET", "/get/list" + q, "", noAuth},
		{"resp2 error", "GET", "/get/list" + q, "", []string{"Authorization", "", "Upstash-Response-Format", "resp2"}},
		{"pipeline", "POST", "/pipeline" + q, `[["GET","k"]]`, noAuth},
	} {
		r := g.req(tt.method, tt.path, tt.body, tt.headers...)
		if r.header.Get("Cache-Control") != "" || r.header.Get("ETag") != "" || r.status == 304 {
			t.Errorf("%s: %d with Cache-Control %q, ETag %q", tt.name, r.status, r.header.Get("Cache-Control"), r.header.Get("ETag"))
		}
	}

	plain := startGateway(t)
	if r := plain.req("GET", "/get/k"+q, "", noAuth...); r.header.Get("Cache-Control") != "" || r.header.Get("ETag") != "" {
		t.Errorf("database without edge caching: %v", r.header)
	}
}

// directDo runs one command on p, straight to Redis, not through the gateway.
func directDo(t *testing.T, p *pool.Pool, args ...string) string {
	t.Helper()
	b := pool.NewBatch(1)
	cmd := make([][]byte, len(args))
	for i, a := range args {
		cmd[i] = []byte(a)
	}
	b.Add(cmd...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := p.Do(ctx, b); err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	defer b.Release()
	return string(b.Reply(0))
}

// TestCacheKeepsEncodedAnswers reads a cached key in each encoding: the answer kept with the
// entry after its first hit is the one the encoder makes, and a write replaces it.
func TestCacheKeepsEncodedAnswers(t *testing.T) {
	var k *cache.Cache
	g := startGateway(t, withCache(t, &k, nil))
	value := strings.Repeat("héllo wörld ", 1000)
	directDo(t, g.pool, "SET", "big", value)
	for _, enc := range []string{"", "base64"} {
		for i := range 4 { // a miss, the first hit (which keeps its answer), then kept answers
			r := g.req("GET", "/get/big", "", "Upstash-Encoding", enc)
			var got struct{ Result string }
			if err := json.Unmarshal([]byte(r.body), &got); r.status != 200 || err != nil {
				t.Fatalf("encoding %q, read %d: %d %.80s (%v)", enc, i, r.status, r.body, err)
			}
			if enc == "base64" {
				b, err := base64.StdEncoding.DecodeString(got.Result)
				if err != nil {
					t.Fatalf("read %d: %v", i, err)
				}
				got.Result = string(b)
			}
			if got.Result != value {
				t.Errorf("encoding %q, read %d: result %.40q…, want the value", enc, i, got.Result)
			}
		}
	}
	for i := range 4 {
		r := g.req("GET", "/get/big", "", "Upstash-Response-Format", "resp2")
		if want := "$" + strconv.Itoa(len(value)) + "\r\n" + value + "\r\n"; r.status != 200 || r.body != want {
			t.Fatalf("resp2, read %d: %d %.40q…", i, r.status, r.body)
		}
	}
	st := k.Stats()
	if st.Bytes < 2*len(value) {
		t.Errorf("cache holds %d bytes, want the reply and its two encodings (> %d)", st.Bytes, 2*len(value))
	}
	directDo(t, g.pool, "SET", "big", "small")
	k.Sync(context.Background())
	if r := g.req("GET", "/get/big", "", "Upstash-Encoding", "base64"); r.body != `{"result":"c21hbGw="}` {
		t.Errorf("after a write: %d %s", r.status, r.body)
	}
}
