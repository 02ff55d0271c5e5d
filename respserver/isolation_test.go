package respserver_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestIsolationUnderConcurrency has 200 clients each write and read back values of their own,
// in pipelines of random depth, all through one listener over two shared Redis connections:
// every reply must be its own request's. REDISGATE_RESP_ISOLATION_COMMANDS sets the total
// (default 100,000; 1,000,000 for the acceptance run).
func TestIsolationUnderConcurrency(t *testing.T) {
	total := 100_000
	if testing.Short() {
		total = 20_000
	}
	if v := os.Getenv("REDISGATE_RESP_ISOLATION_COMMANDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatal(err)
		}
		total = n
	}
	const clients = 200
	l := start(t, func(s *setup) { s.resp.MaxConnsPerIP = 0 })
	ctx := context.Background()
	var mismatches, commands atomic.Int64
	var wg sync.WaitGroup
	for id := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := redis.NewClient(&redis.Options{Addr: l.addr, Password: rwToken, PoolSize: 1, MaxRetries: -1})
			defer c.Close()
			rng := rand.New(rand.NewPCG(uint64(id), 7))
			for seq := 0; commands.Load() < int64(total); seq++ {
				depth := 1 + rng.IntN(32)
				p := c.Pipeline()
				gets := make([]*redis.StringCmd, depth)
				want := make([]string, depth)
				for i := range depth {
					key := fmt.Sprintf("c%d:%d", id, i)
					want[i] = fmt.Sprintf("v%d:%d:%d", id, seq, i)
					p.Set(ctx, key, want[i], 0)
					gets[i] = p.Get(ctx, key)
				}
				if _, err := p.Exec(ctx); err != nil {
					t.Errorf("client %d: %v", id, err)
					return
				}
				for i, g := range gets {
					if g.Val() != want[i] {
						mismatches.Add(1)
					}
				}
				commands.Add(int64(2 * depth))
			}
		}()
	}
	wg.Wait()
	t.Logf("%d commands from %d clients", commands.Load(), clients)
	if n := mismatches.Load(); n > 0 {
		t.Fatalf("%d replies reached the wrong request", n)
	}
	if n := l.pool.Connected(); n > 2 {
		t.Errorf("Redis connections of the pool: %d", n)
	}
}
