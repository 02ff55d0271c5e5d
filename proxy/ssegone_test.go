package proxy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/redisgate/redisgate/proxy"
	"github.com/redisgate/redisgate/pubsub"
)

// TestStreamDepartedClientNoticed measures how long the gateway takes to notice that an SSE
// client closed its connection: from the close, right after a heartbeat reached the client
// (the worst moment for a gateway that notices only when a write fails: that took three
// heartbeats), to the release of the Redis subscription. The gateway watches the connection,
// so it must take well under one heartbeat.
func TestStreamDepartedClientNoticed(t *testing.T) {
	const heartbeat = 400 * time.Millisecond
	g := startGateway(t,
		withPubSub(func(*pubsub.Options) {}),
		withOptions(func(o *proxy.Options) { o.StreamHeartbeat = heartbeat }),
	)
	for i := range 5 {
		s := g.stream("POST", "/subscribe/gone", rwToken)
		s.expect("data: subscribe,gone,1")
		if l := s.line(5 * heartbeat); l != ": heartbeat" {
			t.Fatalf("got %q, want a heartbeat", l)
		}
		s.close()
		start := time.Now()
		for numsub(g, "gone") != 0 {
			if time.Since(start) > 10*heartbeat {
				t.Fatalf("trial %d: the subscription is still held %v after the client left", i, time.Since(start))
			}
			time.Sleep(2 * time.Millisecond)
		}
		d := time.Since(start)
		t.Logf("trial %d: noticed after %v (%.2f heartbeats)", i, d.Round(time.Millisecond), float64(d)/float64(heartbeat))
		if d >= heartbeat {
			t.Errorf("trial %d: a departed client noticed after %v, not before the next heartbeat (%v)", i, d, heartbeat)
		}
	}
}

// TestStreamOutlivesRequestTimeouts checks that watching the connection does not end a
// stream at the request's header or body timeout, whose read deadline the stream lifts: a
// stream open for several such timeouts still gets heartbeats and messages, and it answers
// Connection: close (what the watch reads is not a next request).
func TestStreamOutlivesRequestTimeouts(t *testing.T) {
	const timeout = 200 * time.Millisecond
	g := startGateway(t,
		withPubSub(func(*pubsub.Options) {}),
		withOptions(func(o *proxy.Options) {
			o.StreamHeartbeat = 50 * time.Millisecond
			o.HeaderTimeout, o.ReadTimeout = timeout, timeout
		}),
	)
	s := g.stream("POST", "/subscribe/long", rwToken)
	if !s.res.Close {
		t.Error("the stream's response does not close its connection")
	}
	s.expect("data: subscribe,long,1")
	for end := time.Now().Add(5 * timeout); time.Now().Before(end); {
		if l := s.line(time.Second); !strings.HasPrefix(l, ": heartbeat") {
			t.Fatalf("got %q, want heartbeats", l)
		}
	}
	if n := g.redis.MustDo("PUBLISH", "long", "still here").(int64); n != 1 {
		t.Fatalf("PUBLISH reached %d subscribers after %v, want 1", n, 5*timeout)
	}
	s.expect("data: message,long,still here")
}
