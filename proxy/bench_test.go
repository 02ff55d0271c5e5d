package proxy_test

import (
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/redisgate/redisgate/proxy"
	"github.com/redisgate/redisgate/ratelimit"
)

// BenchmarkLimitedRequests measures the handler's service time (no HTTP transport) for a GET
// under its limits, which runs on Redis, and for one over its limit, which the local cache answers.
func BenchmarkLimitedRequests(b *testing.B) {
	for _, tt := range []struct {
		name       string
		rate       ratelimit.Rate
		wantStatus int
	}{
		{"no-limits", ratelimit.Rate{}, 200},
		{"under-limit", ratelimit.Rate{Count: 1000000, Period: time.Second, Burst: 1000000}, 200},
		{"over-limit", ratelimit.Rate{Count: 1, Period: time.Hour, Burst: 1}, 429},
	} {
		b.Run(tt.name, func(b *testing.B) {
			l, _ := newLimiter(b, false)
			g := startGateway(b, withOptions(func(o *proxy.Options) {
				o.Limiter = l
				o.IPRate, o.TokenRate = tt.rate, tt.rate
			}))
			if tt.wantStatus == 429 {
				g.srv.Handle(newCtx()) // spend the single token
			}
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := newCtx()
				for pb.Next() {
					ctx.Response.Reset()
					g.srv.Handle(ctx)
					if ctx.Response.StatusCode() != tt.wantStatus {
						b.Errorf("status %d, want %d: %s", ctx.Response.StatusCode(), tt.wantStatus, ctx.Response.Body())
						return
					}
				}
			})
		})
	}
}

func newCtx() *fasthttp.RequestCtx {
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.SetRequestURI("http://gw/get/bench")
	req.Header.Set("Authorization", "Bearer "+rwToken)
	ctx.Init(&req, nil, nil)
	return &ctx
}
