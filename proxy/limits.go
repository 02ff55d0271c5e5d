package proxy

import (
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/redisgate/redisgate/ratelimit"
	"github.com/redisgate/redisgate/ratelimit/clientip"
	"github.com/redisgate/redisgate/ratelimit/fastlimit"
)

// limitIP checks the client IP's rate limit into d; on a denial it answers and reports false.
func (s *Server) limitIP(ctx *fasthttp.RequestCtx, d *ratelimit.Decision) bool {
	t := s.access.Load()
	if s.opts.Limiter == nil || t.ipRate.IsZero() {
		return true
	}
	ip := fastlimit.ClientIP(t.proxies)(ctx)
	*d = s.opts.Limiter.Allow(s.base, "ip", "ip:"+ip, t.ipRate)
	if d.Allowed {
		return true
	}
	return fastlimit.Respond(ctx, *d)
}

// limitUser checks the user's rate limit into ds[1] and sets the headers of ds; on a denial
// it answers and reports false.
func (s *Server) limitUser(ctx *fasthttp.RequestCtx, g grant, ds []ratelimit.Decision) bool {
	if s.opts.Limiter == nil {
		return true
	}
	if !g.rate.IsZero() {
		user := g.user
		if t := s.access.Load(); t.userHeader != "" {
			if id := ctx.Request.Header.Peek(t.userHeader); len(id) > 0 && t.proxies.Trusts(clientip.PeerAddr(ctx.RemoteAddr())) {
				user = "u:" + string(id)
			}
		}
		ds[1] = s.opts.Limiter.Allow(s.base, "token", user, g.rate)
	}
	return fastlimit.Respond(ctx, ds...)
}

// charge counts n commands against the user's quota; when it is used up it answers 429 and reports false.
func (s *Server) charge(ctx *fasthttp.RequestCtx, g grant, n int) bool {
	if s.opts.Limiter == nil || g.quota.IsZero() {
		return true
	}
	q := s.opts.Limiter.Charge(s.base, g.user, g.quota, n)
	if q.Allowed {
		return true
	}
	if q.Err != nil {
		writeError(ctx, fasthttp.StatusServiceUnavailable, "ERR rate limiter unavailable")
		return false
	}
	retry := strconv.FormatInt(int64((q.RetryAfter+999_999_999)/1_000_000_000), 10)
	ctx.Response.Header.Set("Retry-After", retry)
	writeError(ctx, fasthttp.StatusTooManyRequests, "ERR "+q.Window+" command quota exceeded: "+
		strconv.FormatInt(q.Remaining, 10)+" left, "+strconv.Itoa(n)+" asked; retry in "+retry+" s")
	return false
}
