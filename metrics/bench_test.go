package metrics

import (
	"testing"
	"time"
)

// BenchmarkRecordRequest measures what the proxy does per answered request: one increment of
// a pre-resolved counter child and one observation of a pre-resolved histogram child.
func BenchmarkRecordRequest(b *testing.B) {
	r := NewRegistry()
	c := r.Counter("redisgate_requests_total", "Requests.", "database", "route", "status").With("default", "command", "200")
	h := r.Histogram("redisgate_request_duration_seconds", "Latency.", LatencyBuckets(), "route").With("command")
	b.ReportAllocs()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			c.Inc()
			h.ObserveDuration(time.Duration(i%5000) * time.Microsecond)
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
