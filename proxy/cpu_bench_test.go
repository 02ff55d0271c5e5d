//go:build unix

package proxy_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// BenchmarkHandlerCPU runs the request shapes of bench/run.sh through Handle (no HTTP
// transport) against a real Redis and reports the process's CPU time per request
// (cpu-ns/op: handler, pool and benchmark loop, from getrusage), which a busy machine
// disturbs less than wall time: the figure to compare before and after a hot-path change.
func BenchmarkHandlerCPU(b *testing.B) {
	for _, tt := range []struct {
		name   string
		method string
		uri    string
		body   string
		header [2]string
	}{
		{name: "get", method: "GET", uri: "http://gw/get/bench"},
		{name: "post-base64", method: "POST", uri: "http://gw/", body: `["GET","bench"]`, header: [2]string{"Upstash-Encoding", "base64"}},
		{name: "pipeline-10", method: "POST", uri: "http://gw/pipeline", body: `[["SET","bench:p1","v"],["GET","bench:p1"],["INCR","bench:ctr"],["GET","bench"],["SET","bench:p2","v"],["INCR","bench:ctr"],["GET","bench:p2"],["SET","bench:p3","v"],["GET","bench:p3"],["INCR","bench:ctr"]]`},
	} {
		b.Run(tt.name, func(b *testing.B) {
			g := startGateway(b)
			b.SetParallelism(16)
			start := cpuTime()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				var ctx fasthttp.RequestCtx
				var req fasthttp.Request
				req.Header.SetMethod(tt.method)
				req.SetRequestURI(tt.uri)
				req.Header.Set("Authorization", "Bearer "+rwToken)
				if tt.header[0] != "" {
					req.Header.Set(tt.header[0], tt.header[1])
				}
				if tt.body != "" {
					req.SetBodyString(tt.body)
				}
				ctx.Init(&req, nil, nil)
				for pb.Next() {
					ctx.Response.Reset()
					g.srv.Handle(&ctx)
					if ctx.Response.StatusCode() != fasthttp.StatusOK {
						b.Errorf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime returns the user and system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
