package goredisstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/ratelimit"
	"github.com/redisgate/redisgate/ratelimit/goredisstore"
)

func TestMain(m *testing.M) { redistest.Main(m) }

var quiet = slog.New(slog.DiscardHandler)

// clients are the go-redis shapes a Store takes, each over its own redis-server(s).
var clients = []struct {
	name string
	new  func(t *testing.T) (redis.UniversalClient, []*redistest.Server)
}{
	{"client", func(t *testing.T) (redis.UniversalClient, []*redistest.Server) {
		rs := redistest.Start(t)
		return redis.NewClient(&redis.Options{Addr: rs.Addr}), []*redistest.Server{rs}
	}},
	{"cluster", func(t *testing.T) (redis.UniversalClient, []*redistest.Server) {
		servers := redistest.StartCluster(t, 3, 0).Primaries
		var addrs []string
		for _, rs := range servers {
			addrs = append(addrs, rs.Addr)
		}
		return redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs}), servers
	}},
	{"ring", func(t *testing.T) (redis.UniversalClient, []*redistest.Server) {
		a, b := redistest.Start(t), redistest.Start(t)
		return redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": a.Addr, "b": b.Addr}}), []*redistest.Server{a, b}
	}},
}

func TestLimiterOverEachClient(t *testing.T) {
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			rdb, servers := c.new(t)
			defer rdb.Close()
			l := ratelimit.NewLimiter(goredisstore.New(rdb), ratelimit.Options{Lease: -1, Timeout: 5 * time.Second, Logger: quiet})
			rate := ratelimit.Rate{Count: 1, Period: time.Hour, Burst: 3}
			// Keys spread over a ring's shards; each must count exactly its own burst.
			for k := range 8 {
				key := fmt.Sprint("k", k)
				for want := 2; want >= 0; want-- {
					if d := l.Allow(context.Background(), "t", key, rate); !d.Allowed || d.Remaining != want || d.Err != nil {
						t.Fatalf("%s: %+v, want allowed with %d remaining", key, d, want)
					}
				}
				if d := l.Allow(context.Background(), "t", key, rate); d.Allowed || d.Err != nil {
					t.Fatalf("%s over its burst: %+v", key, d)
				}
			}
			// Quotas charge two keys in one script: they must share a cluster slot.
			q := ratelimit.Quota{Daily: 3, Monthly: 100}
			for k := range 4 {
				user := fmt.Sprint("user", k)
				if d := l.Charge(context.Background(), user, q, 2); !d.Allowed || d.Remaining != 1 || d.Err != nil {
					t.Fatalf("%s: first charge %+v, want allowed with 1 left", user, d)
				}
				if d := l.Charge(context.Background(), user, q, 2); d.Allowed || d.Window != "daily" || d.Err != nil {
					t.Fatalf("%s: second charge %+v, want refused by the daily window", user, d)
				}
			}
			if len(servers) > 1 {
				for _, rs := range servers {
					if n := rs.MustDo("DBSIZE").(int64); n == 0 {
						t.Errorf("shard %s holds no key: the ring did not spread them", rs.Addr)
					}
				}
			}
		})
	}
}

// TestScriptFlushFallsBackToEval checks the EVALSHA → NOSCRIPT → EVAL path: after SCRIPT
// FLUSH (or a restarted Redis) a decision still comes from Redis.
func TestScriptFlushFallsBackToEval(t *testing.T) {
	rs := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer rdb.Close()
	st := goredisstore.New(rdb)
	l := ratelimit.NewLimiter(st, ratelimit.Options{Lease: -1, Timeout: 5 * time.Second, Logger: quiet})
	rate := ratelimit.Rate{Count: 1, Period: time.Hour, Burst: 2}
	for want := 1; want >= 0; want-- {
		rs.MustDo("SCRIPT", "FLUSH")
		if d := l.Allow(context.Background(), "t", "k", rate); !d.Allowed || d.Remaining != want || d.Err != nil {
			t.Fatalf("after SCRIPT FLUSH: %+v, want allowed with %d remaining", d, want)
		}
	}
	if _, err := st.Eval(context.Background(), "return 'x'", "0000000000000000000000000000000000000000", nil); err == nil {
		t.Error("a script answering a string passed for an array of integers")
	}
}

// TestEvalEndsWithItsContext checks that with ContextTimeoutEnabled a trip to a frozen Redis
// ends at the context's deadline (go-redis otherwise waits for its own timeouts, 3 s and more).
func TestEvalEndsWithItsContext(t *testing.T) {
	rs := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr, ContextTimeoutEnabled: true})
	defer rdb.Close()
	rs.Freeze()
	defer rs.Thaw()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := goredisstore.New(rdb).Eval(ctx, "return {1}", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", nil)
	if err == nil || time.Since(start) > time.Second {
		t.Fatalf("Eval on a frozen Redis: %v after %v, want an error within the deadline", err, time.Since(start))
	}
}
