package metrics_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/redisgate/redisgate/metrics"
)

// A counter and a histogram child resolved once and kept, as the request path does, and a
// gauge read when /metrics is scraped.
func Example() {
	reg := metrics.NewRegistry() // with go_* and process_* series
	requests := reg.Counter("demo_requests_total", "Requests answered.", "route", "status").With("command", "200")
	latency := reg.Histogram("demo_request_duration_seconds", "Request latency.", []float64{0.001, 0.01}, "route").With("command")
	reg.GaugeFunc("demo_connections", "Connections up.", []string{"node"}, func(emit func(float64, ...string)) {
		emit(4, "10.0.0.5:6379")
	})

	requests.Inc()
	latency.ObserveDuration(2 * time.Millisecond)

	var out strings.Builder
	reg.Write(&out) // what GET /metrics serves (reg.Handler)
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "demo_") {
			fmt.Println(line)
		}
	}
	// Output:
	// demo_connections{node="10.0.0.5:6379"} 4
	// demo_request_duration_seconds_bucket{route="command",le="0.001"} 0
	// demo_request_duration_seconds_bucket{route="command",le="0.01"} 1
	// demo_request_duration_seconds_bucket{route="command",le="+Inf"} 1
	// demo_request_duration_seconds_sum{route="command"} 0.002
	// demo_request_duration_seconds_count{route="command"} 1
	// demo_requests_total{route="command",status="200"} 1
}
