package proxy_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redisgate/redisgate/cache"
	"github.com/redisgate/redisgate/internal/redistest"
)

// BenchmarkHotKeyGET measures the handler (no HTTP transport) serving GETs of one 64-byte
// key from 16 goroutines per core, with the read cache off, on, and on in strict mode, in
// the same run. It reports the 99th percentile of the handler's service time and how many
// commands Redis ran per request (INFO commandstats).
func BenchmarkHotKeyGET(b *testing.B) {
	for _, mode := range []string{"off", "on", "strict"} {
		b.Run("cache="+mode, func(b *testing.B) {
			var opts []gatewayOption
			var k *cache.Cache
			if mode != "off" {
				opts = append(opts, withCache(b, &k, func(o *cache.Options) {
					o.Strict = mode == "strict"
					o.PingInterval = time.Second
				}))
			}
			g := startGateway(b, opts...)
			g.redis.MustDo("SET", "bench", strings.Repeat("x", 64))
			before := redisCalls(b, g.redis)
			var mu sync.Mutex
			var all []time.Duration
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := newCtx()
				lat := make([]time.Duration, 0, 1024)
				for pb.Next() {
					ctx.Response.Reset()
					start := time.Now()
					g.srv.Handle(ctx)
					lat = append(lat, time.Since(start))
					if ctx.Response.StatusCode() != 200 {
						b.Errorf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
						return
					}
				}
				mu.Lock()
				all = append(all, lat...)
				mu.Unlock()
			})
			b.StopTimer()
			calls := redisCalls(b, g.redis) - before - 1 // the INFO of this measurement
			slices.Sort(all)
			if len(all) > 0 {
				b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
			}
			b.ReportMetric(float64(calls)/float64(b.N), "redis-cmds/op")
			if k != nil {
				s := k.Stats()
				b.ReportMetric(float64(s.Hits)/float64(max(1, s.Hits+s.Misses)), "hit-ratio")
			}
		})
	}
}

// redisCalls returns the number of commands the server has run (INFO commandstats).
func redisCalls(b *testing.B, rs *redistest.Server) int64 {
	b.Helper()
	info := fmt.Sprint(rs.MustDo("INFO", "commandstats"))
	var n int64
	for _, line := range strings.Split(info, "\n") {
		_, rest, ok := strings.Cut(line, ":calls=")
		if !ok {
			continue
		}
		v, _, _ := strings.Cut(rest, ",")
		c, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			b.Fatalf("commandstats line %q: %v", line, err)
		}
		n += c
	}
	return n
}

// BenchmarkHotKeyGETUnderWrites serves GETs of one key from 16 goroutines per core while
// another client writes the key straight to Redis every millisecond. It reports the Redis
// reads the cache sent per write (a fill shared by every GET waiting for it counts once) and
// the Redis commands per request besides the writes.
func BenchmarkHotKeyGETUnderWrites(b *testing.B) {
	var k *cache.Cache
	g := startGateway(b, withCache(b, &k, func(o *cache.Options) { o.PingInterval = time.Second }))
	g.redis.MustDo("SET", "bench", strings.Repeat("x", 64))
	stop := make(chan struct{})
	var writes int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-t.C:
				g.redis.MustDo("SET", "bench", strings.Repeat(strconv.Itoa(i%10), 64))
				writes++
			}
		}
	}()
	before, st0 := redisCalls(b, g.redis), k.Stats()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := newCtx()
		for pb.Next() {
			ctx.Response.Reset()
			g.srv.Handle(ctx)
			if ctx.Response.StatusCode() != 200 {
				b.Errorf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
				return
			}
		}
	})
	b.StopTimer()
	close(stop)
	wg.Wait()
	calls := redisCalls(b, g.redis) - before - 1 - writes
	st := k.Stats()
	fills := (st.Misses - st0.Misses) - (st.Coalesced - st0.Coalesced)
	b.ReportMetric(float64(fills)/float64(max(1, writes)), "fills/write")
	b.ReportMetric(float64(st.Coalesced-st0.Coalesced)/float64(max(1, writes)), "coalesced/write")
	b.ReportMetric(float64(calls)/float64(b.N), "redis-cmds/op")
	b.ReportMetric(float64(st.Hits-st0.Hits)/float64(b.N), "hit-ratio")
}
