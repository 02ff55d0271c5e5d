package metrics

import (
	"strings"
	"testing"
	"time"
)

func TestExposition(t *testing.T) {
	r := NewRegistry()
	c := r.Counter("req_total", "Requests.", "route", "status")
	c.Inc("command", "200")
	c.Add(2, "command", "200")
	c.Inc("pipeline", "429")
	h := r.Histogram("latency_seconds", "Latency.", []float64{0.001, 0.01}, "route")
	h.ObserveDuration(500*time.Microsecond, "command")
	h.ObserveDuration(5*time.Millisecond, "command")
	h.ObserveDuration(time.Second, "command")
	r.GaugeFunc("conns", "Connections.", []string{"db"}, func(emit func(float64, ...string)) { emit(3, "a") })
	var b strings.Builder
	r.Write(&b)
	want := `# HELP req_total Requests.
# TYPE req_total counter
req_total{route="command",status="200"} 3
req_total{route="pipeline",status="429"} 1
# HELP latency_seconds Latency.
# TYPE latency_seconds histogram
latency_seconds_bucket{route="command",le="0.001"} 1
latency_seconds_bucket{route="command",le="0.01"} 2
latency_seconds_bucket{route="command",le="+Inf"} 3
latency_seconds_sum{route="command"} 1.0055
latency_seconds_count{route="command"} 3
# HELP conns Connections.
# TYPE conns gauge
conns{db="a"} 3
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
