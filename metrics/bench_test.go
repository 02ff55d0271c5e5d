package metrics

import (
	"io"
	"runtime"
	"testing"
	"time"
)

// BenchmarkRecordRequest measures what the proxy does per answered request: one increment of
// a pre-resolved counter child and one observation of a pre-resolved histogram child. The
// serial case also reports cpu-ns/op, the CPU time of its thread per request, which a machine
// shared with other work disturbs far less than ns/op.
func BenchmarkRecordRequest(b *testing.B) {
	r := NewRegistry()
	c := r.Counter("redisgate_requests_total", "Requests.", "database", "route", "status").With("default", "command", "200")
	h := r.Histogram("redisgate_request_duration_seconds", "Latency.", LatencyBuckets(), "route").With("command")
	b.ReportAllocs()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cpu0, measured := threadCPU()
		for i := 0; i < b.N; i++ {
			c.Inc()
			h.ObserveDuration(time.Duration(i%5000) * time.Microsecond)
		}
		if cpu1, ok := threadCPU(); measured && ok {
			// ns/op counts the time the thread waited for a core too; this does not.
			b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				c.Inc()
				h.ObserveDuration(time.Duration(i%5000) * time.Microsecond)
				i++
			}
		})
	})
}

// BenchmarkRecordRequestLookup is the same with the children looked up by label values each
// time, the path the proxy takes only the first time it sees a (database, route, status).
func BenchmarkRecordRequestLookup(b *testing.B) {
	r := NewRegistry()
	c := r.Counter("redisgate_requests_total", "Requests.", "database", "route", "status")
	h := r.Histogram("redisgate_request_duration_seconds", "Latency.", LatencyBuckets(), "route")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c.Inc("default", "command", "200")
		h.ObserveDuration(time.Duration(i%5000)*time.Microsecond, "command")
	}
}

// BenchmarkScrape measures one gathering and encoding of a registry shaped like a gateway's:
// 3 databases × 5 routes × 4 statuses of request counters, a latency histogram per route and
// ten gauges read from funcs (the runtime collectors too, in NewRegistry).
func BenchmarkScrape(b *testing.B) {
	r := NewRegistry()
	c := r.Counter("redisgate_requests_total", "Requests.", "database", "route", "status")
	h := r.Histogram("redisgate_request_duration_seconds", "Latency.", LatencyBuckets(), "route")
	for _, db := range []string{"a", "b", "c"} {
		for _, route := range []string{"preflight", "pipeline", "multi-exec", "stream", "command"} {
			for _, status := range []string{"200", "400", "429", "503"} {
				c.Inc(db, route, status)
			}
			h.Observe(0.001, route)
		}
	}
	r.GaugeFunc("redisgate_backend_connections", "Connections.", []string{"database", "node"}, func(emit func(float64, ...string)) {
		for i := range 10 {
			emit(float64(i), "db", string(rune('a'+i)))
		}
	})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		r.Write(io.Discard)
	}
}
