package replicaset

import (
	"testing"
	"time"
)

// TestLatencyAverage checks the EWMA of probe round trips: one hiccup barely moves a near
// node, a real change of distance shows within about a second of probes, and a failure
// forgets the average.
func TestLatencyAverage(t *testing.T) {
	var n node
	n.observe(300*time.Microsecond, true)
	for range 20 {
		n.observe(300*time.Microsecond, true)
	}
	n.observe(40*time.Millisecond, true) // a scheduling hiccup
	if got := n.latency(); got > 300*time.Microsecond+tieAbs/2 {
		t.Errorf("after one 40ms hiccup the average is %v, want within %v of 300µs", got, tieAbs/2)
	}
	for range 10 { // one second of probes at the new distance
		n.observe(40*time.Millisecond, true)
	}
	if got := n.latency(); got < 20*time.Millisecond {
		t.Errorf("after 10 probes at 40ms the average is %v, want it past 20ms", got)
	}
	n.observe(0, false)
	if n.latency() != 0 {
		t.Errorf("a failed probe kept the average %v", n.latency())
	}
	n.observe(5*time.Millisecond, true)
	if got := n.latency(); got != 5*time.Millisecond {
		t.Errorf("the first probe after a failure gives %v, want its own 5ms", got)
	}
}

// TestTie checks the margin of equally near.
func TestTie(t *testing.T) {
	for _, c := range []struct {
		a, b time.Duration
		want bool
	}{
		{300 * time.Microsecond, 2 * time.Millisecond, true},     // within 2 ms
		{300 * time.Microsecond, 2500 * time.Microsecond, false}, // beyond 2 ms, 20 %
		{20 * time.Millisecond, 23 * time.Millisecond, true},     // within 20 %
		{20 * time.Millisecond, 25 * time.Millisecond, false},
		{300 * time.Microsecond, 20 * time.Millisecond, false},
	} {
		if got := tie(c.a, c.b); got != c.want || tie(c.b, c.a) != c.want {
			t.Errorf("tie(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}
