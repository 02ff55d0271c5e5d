// Package fastlimit is fasthttp middleware that rate-limits requests with a ratelimit.Limiter,
// keyed by any function of the request (ClientIP keys by client address); redisgate's gateway
// answers its own limits with Respond.
//
// It answers as httplimit does. Key functions must not keep the RequestCtx or any byte slice
// from it after they return. fasthttp gives a request no deadline: the Limiter's
// Options.Timeout bounds each trip to Redis.
package fastlimit

import (
	"context"
	"strings"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/redisgate/redisgate/ratelimit"
	"github.com/redisgate/redisgate/ratelimit/clientip"
)

// Middleware returns middleware that lets a request through only when the bucket key(ctx)
// names is within rate; a key of "" is not limited. name labels the limit in headers and
// errors and prefixes the bucket's key.
func Middleware(l *ratelimit.Limiter, name string, rate ratelimit.Rate, key func(*fasthttp.RequestCtx) string) func(fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(next fasthttp.RequestHandler) fasthttp.RequestHandler {
		return func(ctx *fasthttp.RequestCtx) {
			k := key(ctx)
			if k == "" {
				next(ctx)
				return
			}
			d := l.Allow(context.Background(), name, name+":"+k, rate)
			if Respond(ctx, d) {
				next(ctx)
			}
		}
	}
}

// Respond sets the rate-limit headers of ds on ctx's response and, when one of ds denies the
// request, answers it (429, or 503 when the limiter failed closed) and reports false.
// Zero Decisions, of limits not checked, are skipped. Header names are set as fasthttp
// normalizes them (Ratelimit-Policy), so that Peek finds them; HTTP names are case-blind.
func Respond(ctx *fasthttp.RequestCtx, ds ...ratelimit.Decision) bool {
	buf := scratch.Get().(*[256]byte) // a local array would escape through the call of set
	defer scratch.Put(buf)
	h := &ctx.Response.Header
	ratelimit.EachHeader(buf[:0], func(k, v []byte) {
		if n := normalized(k); n != nil {
			h.SetCanonical(n, v) // a third of SetBytesKV's cost: no key normalization
			return
		}
		h.SetBytesKV(k, v)
	}, ds...)
	status, body, denied := ratelimit.Answer(nil, ds...)
	if !denied {
		return true
	}
	ctx.SetContentType("application/json")
	ctx.SetStatusCode(status)
	ctx.SetBody(body)
	return false
}

// scratch holds the buffers Respond builds header values in.
var scratch = sync.Pool{New: func() any { return new([256]byte) }}

// The names EachHeader sets, as fasthttp normalizes them.
var (
	nPolicy     = []byte("Ratelimit-Policy")
	nState      = []byte("Ratelimit")
	nLimit      = []byte("X-Ratelimit-Limit")
	nRemaining  = []byte("X-Ratelimit-Remaining")
	nReset      = []byte("X-Ratelimit-Reset")
	nRetryAfter = []byte("Retry-After")
)

// normalized returns k as fasthttp normalizes it, for the names EachHeader sets; nil for others.
func normalized(k []byte) []byte {
	switch string(k) {
	case "RateLimit-Policy":
		return nPolicy
	case "RateLimit":
		return nState
	case "X-RateLimit-Limit":
		return nLimit
	case "X-RateLimit-Remaining":
		return nRemaining
	case "X-RateLimit-Reset":
		return nReset
	case "Retry-After":
		return nRetryAfter
	}
	return nil
}

// ClientIP returns a key function naming the client address of a request as p determines it:
// the TCP peer, or the first untrusted hop of its forwarding headers when the peer is one of p.
func ClientIP(p clientip.Proxies) func(*fasthttp.RequestCtx) string {
	return func(ctx *fasthttp.RequestCtx) string {
		peer := clientip.PeerAddr(ctx.RemoteAddr())
		if !p.Trusts(peer) {
			return peer.String()
		}
		var fwd, xff []string
		for k, v := range ctx.Request.Header.All() {
			switch {
			case strings.EqualFold(string(k), "Forwarded"):
				fwd = append(fwd, string(v))
			case strings.EqualFold(string(k), "X-Forwarded-For"):
				xff = append(xff, string(v))
			}
		}
		return p.ClientIP(peer, strings.Join(fwd, ","), strings.Join(xff, ",")).String()
	}
}
