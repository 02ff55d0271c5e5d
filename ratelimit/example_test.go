package ratelimit_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisgate/redisgate/ratelimit"
	"github.com/redisgate/redisgate/ratelimit/goredisstore"
)

// ExampleLimiter_Allow keeps a limiter's state in the Redis at REDIS_ADDR, reached through
// go-redis: a burst of 2 passes at once, then one request a minute.
func ExampleLimiter_Allow() {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv("REDIS_ADDR"), ContextTimeoutEnabled: true})
	defer rdb.Close()
	_ = rdb.FlushDB(ctx).Err()

	limiter := ratelimit.NewLimiter(goredisstore.New(rdb), ratelimit.Options{Timeout: time.Second})
	rate := ratelimit.Rate{Count: 1, Period: time.Minute, Burst: 2}
	fmt.Println("rate", rate)
	for range 3 {
		d := limiter.Allow(ctx, "project", "project:123", rate)
		fmt.Println("allowed", d.Allowed, "remaining", d.Remaining, "retry after", d.RetryAfter.Round(time.Second))
	}
	// Output:
	// rate 1/m:2
	// allowed true remaining 1 retry after 0s
	// allowed true remaining 0 retry after 0s
	// allowed false remaining 0 retry after 1m0s
}

// ExampleParseRate reads rates as the gateway's flags and config file take them.
func ExampleParseRate() {
	for _, s := range []string{"10/s", "600/m:50", "1/5s"} {
		r, _ := ratelimit.ParseRate(s)
		fmt.Printf("%s: %d per %v, burst %d\n", r, r.Count, r.Period, r.Burst)
	}
	// Output:
	// 10/s:10: 10 per 1s, burst 10
	// 600/m:50: 600 per 1m0s, burst 50
	// 1/5s:1: 1 per 5s, burst 1
}
