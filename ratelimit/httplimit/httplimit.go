// Package httplimit is net/http middleware that rate-limits requests with a ratelimit.Limiter,
// keyed by any function of the request (ClientIP keys by client address).
//
// Allowed requests carry the rate-limit headers to the handler's answer; denied ones are
// answered 429 with Retry-After and a JSON error, or 503 when the limiter could not decide
// and fails closed. The request's context bounds the limiter's trip to Redis.
package httplimit

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/redisgate/redisgate/ratelimit"
	"github.com/redisgate/redisgate/ratelimit/clientip"
)

// Middleware returns middleware that lets a request through only when the bucket key(r)
// names is within rate; a key of "" is not limited. name labels the limit in headers and
// errors and prefixes the bucket's key.
func Middleware(l *ratelimit.Limiter, name string, rate ratelimit.Rate, key func(*http.Request) string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			k := key(r)
			if k == "" {
				next.ServeHTTP(w, r)
				return
			}
			d := l.Allow(r.Context(), name, name+":"+k, rate)
			if Respond(w, d) {
				next.ServeHTTP(w, r)
			}
		})
	}
}

// Respond sets the rate-limit headers of ds on w and, when one of ds denies the request,
// answers it and reports false. Zero Decisions, of limits not checked, are skipped.
func Respond(w http.ResponseWriter, ds ...ratelimit.Decision) bool {
	h := w.Header()
	var buf [256]byte
	ratelimit.EachHeader(buf[:0], func(k, v []byte) { h.Set(string(k), string(v)) }, ds...)
	status, body, denied := ratelimit.Answer(nil, ds...)
	if !denied {
		return true
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
	return false
}

// ClientIP returns a key function naming the client address of a request as p determines it:
// the TCP peer, or the first untrusted hop of its forwarding headers when the peer is one of p.
func ClientIP(p clientip.Proxies) func(*http.Request) string {
	return func(r *http.Request) string {
		ap, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil {
			return r.RemoteAddr
		}
		return p.ClientIP(ap.Addr(), strings.Join(r.Header.Values("Forwarded"), ","), strings.Join(r.Header.Values("X-Forwarded-For"), ",")).String()
	}
}
