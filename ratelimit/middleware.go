package ratelimit

import (
	"context"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"
)

// deniedBody is the JSON answer to a request over its limit.
func deniedBody(d Decision) []byte {
	b := []byte(`{"error":"ERR rate limit exceeded: `)
	b = append(b, d.Name...)
	b = append(b, " limit "...)
	b = append(b, d.Rate.String()...)
	b = append(b, ", retry in "...)
	b = strconv.AppendInt(b, d.wait(), 10)
	return append(b, ` s"}`...)
}

// unavailableBody is the JSON answer when the limiter cannot decide and fails closed.
var unavailableBody = []byte(`{"error":"ERR rate limiter unavailable"}`)

// HTTP returns net/http middleware that allows a request only when the bucket key(r)
// names is within rate; a key of "" is not limited. Answers carry the rate-limit
// headers; denied requests get 429 with a JSON error, or 503 when the limiter fails closed.
func HTTP(l *Limiter, name string, rate Rate, key func(*http.Request) string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			k := key(r)
			if k == "" {
				next.ServeHTTP(w, r)
				return
			}
			d := l.Allow(r.Context(), name, name+":"+k, rate)
			for _, h := range Headers(d) {
				w.Header().Set(h.Key, h.Value)
			}
			if d.Allowed {
				next.ServeHTTP(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			if d.Err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				w.Write(unavailableBody)
				return
			}
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write(deniedBody(d))
		})
	}
}

// FastHTTP wraps next so that a request runs only when the bucket key(ctx) names is within
// rate; a key of "" is not limited. It answers as HTTP does.
func FastHTTP(l *Limiter, name string, rate Rate, key func(*fasthttp.RequestCtx) string, next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		k := key(ctx)
		if k == "" {
			next(ctx)
			return
		}
		d := l.Allow(context.Background(), name, name+":"+k, rate)
		if !Respond(ctx, d) {
			return
		}
		next(ctx)
	}
}

// Respond sets the rate-limit headers of ds on ctx's response and, when one of ds denies the
// request, answers it (429, or 503 when the limiter failed closed) and reports false.
// Zero Decisions, of limits not checked, are skipped.
func Respond(ctx *fasthttp.RequestCtx, ds ...Decision) bool {
	setHeaders(&ctx.Response.Header, ds)
	for _, d := range ds {
		if d.Allowed || (d.Rate.IsZero() && d.Err == nil) {
			continue
		}
		ctx.SetContentType("application/json")
		if d.Err != nil {
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
			ctx.SetBody(unavailableBody)
			return false
		}
		ctx.SetStatusCode(fasthttp.StatusTooManyRequests)
		ctx.SetBody(deniedBody(d))
		return false
	}
	return true
}

// HTTPClientIP returns the client IP of r as p determines it, as a bucket key.
func (p Proxies) HTTPClientIP(r *http.Request) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return p.ClientIP(ap.Addr(), strings.Join(r.Header.Values("Forwarded"), ","), strings.Join(r.Header.Values("X-Forwarded-For"), ",")).String()
}

// FastHTTPClientIP returns the client IP of ctx as p determines it, as a bucket key.
func (p Proxies) FastHTTPClientIP(ctx *fasthttp.RequestCtx) string {
	peer := PeerAddr(ctx.RemoteAddr())
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
