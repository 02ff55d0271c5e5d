// Package limit rate-limits AWS Lambda HTTP handlers per client IP or per user, for API Gateway
// REST (v1) and HTTP (v2) APIs, Function URLs and ALB targets, with the limiter's state in Redis
// through redisgate, so that every container of a function shares the limits.
package limit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redisgate/redisgate/apierr"
	"github.com/redisgate/redisgate/lambda/rest"
	"github.com/redisgate/redisgate/ratelimit"
	"github.com/redisgate/redisgate/ratelimit/clientip"
)

// NewLimiter returns a ratelimit.Limiter keeping its state in store (a *rest.Client), with
// defaults for Lambda where opts leaves them zero: no tokens taken ahead of demand (a container
// serves one request at a time and may be frozen at any moment; Lease 0 means none here) and
// a 500 ms deadline per decision, for a trip over HTTP. Its log leaves out the gateway's
// refusals of its token, which a Guard reports as configuration errors.
func NewLimiter(store ratelimit.Store, opts ratelimit.Options) *ratelimit.Limiter {
	if opts.Lease == 0 {
		opts.Lease = -1
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 500 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	// A Guard logs a refused token as the configuration error it is, with what it did; the
	// limiter's own line would call it an outage and say the request was allowed.
	opts.Logger = slog.New(withoutRefusals{opts.Logger.Handler()})
	return ratelimit.NewLimiter(store, opts)
}

// withoutRefusals is a slog.Handler dropping the records whose err is a refusal of the
// limiter's token, which the Guard reports itself.
type withoutRefusals struct{ slog.Handler }

// Handle passes r on unless its err attribute is a 401 or 403 from the gateway.
func (h withoutRefusals) Handle(ctx context.Context, r slog.Record) error {
	refused := false
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && a.Key == "err" && refusal(err) != nil {
			refused = true
		}
		return !refused
	})
	if refused {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs returns the handler with attrs, still dropping refusals.
func (h withoutRefusals) WithAttrs(attrs []slog.Attr) slog.Handler {
	return withoutRefusals{h.Handler.WithAttrs(attrs)}
}

// WithGroup returns the handler with the group, still dropping refusals.
func (h withoutRefusals) WithGroup(name string) slog.Handler {
	return withoutRefusals{h.Handler.WithGroup(name)}
}

// Request is what a Guard knows of one event, whatever its type.
type Request struct {
	// Peer is the address that reached AWS: the event's source IP or, for ALB, the last
	// X-Forwarded-For entry (the one the load balancer added). Invalid when the event has none.
	Peer netip.Addr
	// ClientIP is the client's address: Peer, or, when Peer is one of the Guard's trusted
	// proxies, the first untrusted hop of Forwarded or X-Forwarded-For. Set by Guard.Check.
	ClientIP netip.Addr
	// User is the principal the event's authorizer vouched for ("" when none).
	User string
	// Event is the original event: a pointer to one of the aws-lambda-go events types.
	Event any

	headers map[string]string
	multi   map[string][]string
}

// Header returns the values of the request header name, matched without regard to case,
// joined with ", ".
func (r *Request) Header(name string) string {
	var vals []string
	for k, v := range r.multi {
		if strings.EqualFold(k, name) {
			vals = append(vals, v...)
		}
	}
	if len(vals) > 0 {
		return strings.Join(vals, ", ")
	}
	for k, v := range r.headers {
		if strings.EqualFold(k, name) {
			vals = append(vals, v)
		}
	}
	return strings.Join(vals, ", ")
}

// Limit is one rate limit applied to requests.
type Limit struct {
	// Name labels the limit in headers, errors and Redis keys ("ip", "user").
	Name string
	// Rate is the limit.
	Rate ratelimit.Rate
	// Key names the bucket a request is counted in; "" leaves the request out of this limit.
	Key func(*Request) string
}

// PerIP limits each client IP to rate; events without a source IP are not limited.
func PerIP(rate ratelimit.Rate) Limit {
	return Limit{Name: "ip", Rate: rate, Key: func(r *Request) string {
		if !r.ClientIP.IsValid() {
			return ""
		}
		return r.ClientIP.String()
	}}
}

// PerUser limits each authenticated user (Request.User) to rate; anonymous requests are not limited.
func PerUser(rate ratelimit.Rate) Limit {
	return Limit{Name: "user", Rate: rate, Key: func(r *Request) string { return r.User }}
}

// Options configures a Guard.
type Options struct {
	// Proxies are trusted proxies in front of the event source (e.g. CloudFront's ranges): when
	// the peer is one of them, the client is read from Forwarded or X-Forwarded-For.
	Proxies clientip.Proxies
	// FailOpen lets requests through when the gateway refuses the limiter's token (401 or
	// 403), as they are when it cannot be reached. By default such a refusal, a configuration
	// error, denies the request with 503, since letting it through would turn rate limiting off.
	FailOpen bool
	// Logger receives an error line for each refused decision (default slog.Default()).
	Logger *slog.Logger
}

// Guard checks requests against its limits with a Limiter.
type Guard struct {
	limiter *ratelimit.Limiter
	limits  []Limit
	opts    Options
	pruned  atomic.Int64  // unix nanoseconds of the last prune of the limiter's local state
	refused atomic.Uint64 // decisions the gateway refused with 401 or 403
}

// New returns a Guard applying limits, in order, with l.
func New(l *ratelimit.Limiter, opts Options, limits ...Limit) *Guard {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	g := &Guard{limiter: l, limits: limits, opts: opts}
	g.pruned.Store(time.Now().UnixNano())
	return g
}

// Verdict is the outcome of checking one request against a Guard's limits.
type Verdict struct {
	// Allowed reports whether the handler may run.
	Allowed bool
	// Decisions are the limits' decisions, one per limit checked.
	Decisions []ratelimit.Decision
	// Headers are the rate-limit headers for the answer, allowed or denied, from the
	// decisions Redis made: none for a limit that could not be decided.
	Headers []ratelimit.Header
	// Status and Body answer a denied request: 429 and a JSON error, or 503 when the limiter
	// could not decide and fails closed, or the gateway refused its token (see Options.FailOpen).
	Status int
	Body   string
}

// Refused returns how many decisions the gateway refused because it did not accept the
// limiter's token (401 or 403): a count above zero means the limiter is misconfigured.
func (g *Guard) Refused() uint64 { return g.refused.Load() }

// refusal returns the gateway's 401 or 403 answer that err carries, or nil.
func refusal(err error) *rest.Error {
	var re *rest.Error
	if errors.As(err, &re) && (re.Status == http.StatusUnauthorized || re.Status == http.StatusForbidden) {
		return re
	}
	return nil
}

// pruneEvery is how often the limiter's local state of idle keys is dropped, inline: a
// container lives for hours and meets many clients, but runs no background goroutine.
const pruneEvery = time.Minute

// Check sets r.ClientIP and checks r against each limit in turn, stopping at the first that denies.
func (g *Guard) Check(ctx context.Context, r *Request) Verdict {
	now := time.Now().UnixNano()
	if last := g.pruned.Load(); now-last > int64(pruneEvery) && g.pruned.CompareAndSwap(last, now) {
		g.limiter.Prune(5 * pruneEvery)
	}
	if r.Peer.IsValid() {
		r.ClientIP = g.opts.Proxies.ClientIP(r.Peer, r.Header("Forwarded"), r.Header("X-Forwarded-For"))
	}
	v := Verdict{Allowed: true}
	var made []ratelimit.Decision // the decisions Redis actually made, for the headers
	for _, l := range g.limits {
		k := l.Key(r)
		if k == "" {
			continue
		}
		d := g.limiter.Allow(ctx, l.Name, l.Name+":"+bucket(k), l.Rate)
		if re := refusal(d.Err); re != nil {
			g.refused.Add(1)
			d.Allowed = g.opts.FailOpen
			if d.Allowed {
				g.opts.Logger.Error("the gateway refused the limiter's token: "+re.Error()+"; allowing the request unlimited (limit.Options.FailOpen)", "limit", l.Name, "status", re.Status)
			} else {
				g.opts.Logger.Error("the gateway refused the limiter's token: "+re.Error()+"; denying the request (check the limiter's gateway token, or set limit.Options.FailOpen)", "limit", l.Name, "status", re.Status)
			}
		}
		v.Decisions = append(v.Decisions, d)
		if d.Err == nil {
			made = append(made, d)
		}
		if d.Allowed {
			continue
		}
		v.Allowed = false
		// The answers are the gateway's own (package apierr), so a client sees one body for
		// one denial whichever of the two refused it.
		var e *apierr.Error
		switch {
		case refusal(d.Err) != nil:
			e = &apierr.Error{Status: http.StatusServiceUnavailable, Code: apierr.ERR, Msg: "rate limiter misconfigured: the gateway refused its token"}
		case d.Err != nil:
			e = apierr.LimiterUnavailable(d.Err)
		default:
			e = apierr.RateLimited(d.Name, d.Rate.String(), d.RetryAfter)
		}
		status, body, _ := apierr.Answer(e)
		v.Status, v.Body = status, string(body)
		break
	}
	v.Headers = ratelimit.Headers(made...)
	if !v.Allowed {
		v.Headers = append(v.Headers, ratelimit.Header{Key: "Content-Type", Value: "application/json"})
	}
	return v
}

// bucket returns k as a Redis key part: as it is when short, else a hash of it (user ARNs, claims).
func bucket(k string) string {
	if len(k) <= 64 {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return "h:" + hex.EncodeToString(sum[:16])
}
