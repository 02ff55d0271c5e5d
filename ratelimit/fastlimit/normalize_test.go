package fastlimit

import (
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/redisgate/redisgate/ratelimit"
)

// TestNormalizedNames: every header name EachHeader sets has its fasthttp-normalized form in
// normalized, equal to what fasthttp itself makes of it, so that SetCanonical stores what
// SetBytesKV would.
func TestNormalizedNames(t *testing.T) {
	d := ratelimit.Decision{Name: "ip", Rate: ratelimit.Rate{Count: 1, Period: time.Second, Burst: 1}, Allowed: false, RetryAfter: time.Second}
	n := 0
	ratelimit.EachHeader(nil, func(k, v []byte) {
		n++
		var h fasthttp.ResponseHeader
		h.SetBytesKV(k, v)
		var got []byte
		for key := range h.All() {
			if string(key) != "Content-Type" && string(key) != "Server" && string(key) != "Date" {
				got = key
			}
		}
		if want := normalized(k); string(want) != string(got) {
			t.Errorf("%s: normalized %q, fasthttp %q", k, want, got)
		}
	}, d)
	if n != 6 {
		t.Errorf("%d headers for a denied decision, want 6", n)
	}
}

// BenchmarkRespond measures the headers of two allowed decisions set on a response.
func BenchmarkRespond(b *testing.B) {
	rate := ratelimit.Rate{Count: 1000, Period: time.Second, Burst: 1000}
	ds := []ratelimit.Decision{{Name: "ip", Rate: rate, Allowed: true, Remaining: 999}, {Name: "token", Rate: rate, Allowed: true, Remaining: 998}}
	var ctx fasthttp.RequestCtx
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		if !Respond(&ctx, ds...) {
			b.Fatal("denied")
		}
	}
}
