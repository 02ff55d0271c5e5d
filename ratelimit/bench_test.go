package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/ratelimit"
)

// BenchmarkAllowUnderLimit measures a decision for one hot key far below its limit.
func BenchmarkAllowUnderLimit(b *testing.B) {
	rs := redistest.Start(b)
	l := ratelimit.NewLimiter(newStore(b, rs), ratelimit.Options{Logger: quiet})
	rate := ratelimit.Rate{Count: 40_000_000_000, Period: 24 * time.Hour, Burst: 1_000_000_000}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !l.Allow(context.Background(), "ip", "ip:127.0.0.1", rate).Allowed {
				b.Fatal("denied")
			}
		}
	})
	b.ReportMetric(float64(l.Stats().Trips.Load())/float64(b.N), "trips/op")
	b.ReportMetric(float64(l.Stats().Errors.Load())/float64(b.N), "errors/op")
}

// BenchmarkAllowOverLimit measures a decision for a key known to be over its limit.
func BenchmarkAllowOverLimit(b *testing.B) {
	rs := redistest.Start(b)
	l := ratelimit.NewLimiter(newStore(b, rs), ratelimit.Options{Logger: quiet})
	rate := ratelimit.Rate{Count: 1, Period: time.Hour, Burst: 1}
	l.Allow(context.Background(), "ip", "k", rate)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if l.Allow(context.Background(), "ip", "k", rate).Allowed {
				b.Fatal("allowed")
			}
		}
	})
}

func BenchmarkHeaders(b *testing.B) {
	ip := ratelimit.Decision{Name: "ip", Rate: ratelimit.PerSecond(100), Allowed: true, Remaining: 50, ResetAfter: time.Second}
	tok := ratelimit.Decision{Name: "token", Rate: ratelimit.PerSecond(10), Allowed: true, Remaining: 5, ResetAfter: time.Second}
	for b.Loop() {
		ratelimit.Headers(ip, tok)
	}
}
