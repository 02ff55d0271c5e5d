package ratelimit

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a Limiter.
type Options struct {
	// Prefix starts every Redis key the limiter writes (default "redisgate:rl:").
	Prefix string
	// Timeout bounds one trip to Redis for a decision (default 50 ms).
	Timeout time.Duration
	// FailClosed denies requests when Redis cannot decide in time; by default they are allowed (fail-open).
	FailClosed bool
	// Lease is how long tokens taken ahead of demand stay usable locally (default 100 ms);
	// 0 or less takes no tokens ahead, so every request asks Redis.
	Lease time.Duration
	// MaxPrefetch caps the tokens taken ahead of demand in one trip (default 1,000).
	MaxPrefetch int
	// Logger receives fail-open and fail-closed events (default slog.Default()).
	Logger *slog.Logger
}

// Limiter decides GCRA limits with state in Redis, shared by every process that uses the same store.
//
// Each process keeps, per key, tokens it was granted ahead of demand for a short lease and
// the time until which a key is known to be over its limit, so that requests under the limit
// cost Redis a trip only now and then, and requests over it cost none. Concurrent requests
// for one key share one trip. Tokens granted are already charged in Redis, so across every
// process no more than Burst + Count·t/Period requests pass in t.
type Limiter struct {
	store   Store
	opts    Options
	buckets sync.Map // string → *bucket
	quotas  quotaCache
	stats   Stats
}

// Stats counts a Limiter's decisions, one per event (AllowN counts n), and its trips to Redis.
type Stats struct {
	Allowed, Denied, DeniedLocally, Trips, Errors atomic.Int64
}

// NewLimiter returns a Limiter keeping its state in store.
func NewLimiter(store Store, opts Options) *Limiter {
	if opts.Prefix == "" {
		opts.Prefix = "redisgate:rl:"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 50 * time.Millisecond
	}
	if opts.Lease == 0 {
		opts.Lease = 100 * time.Millisecond
	}
	if opts.MaxPrefetch <= 0 {
		opts.MaxPrefetch = 1000
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Limiter{store: store, opts: opts}
}

// Stats returns the limiter's counters.
func (l *Limiter) Stats() *Stats { return &l.stats }

// Decision is the outcome of one check against one limit.
type Decision struct {
	// Name labels the limit in headers ("ip", "token").
	Name string
	// Rate is the limit checked.
	Rate Rate
	// Allowed reports whether the request may run.
	Allowed bool
	// Remaining is how many more requests could pass at once.
	Remaining int
	// RetryAfter is how long until a request may pass again, when denied.
	RetryAfter time.Duration
	// ResetAfter is how long until the limit is back to its full burst.
	ResetAfter time.Duration
	// Err is set when Redis could not decide; Allowed then follows the fail-open or fail-closed policy.
	Err error
}

type bucket struct {
	mu       sync.Mutex
	tokens   int           // granted and not spent
	owed     int           // of tokens, those granted for requests that waited for the trip: kept past expires
	expires  time.Time     // tokens are dropped after this
	blocked  time.Time     // over the limit until this
	last     grant         // the latest answer from Redis, for headers
	lastAt   time.Time     // when it came
	trip     chan struct{} // closed when the trip to Redis under way ends; nil when none
	waiting  int           // requests waiting for that trip
	served   int           // requests served from tokens since the last trip, to size the next prefetch
	lastUsed atomic.Int64  // unix nanoseconds, for pruning
}

// Allow reports whether one more event for key may happen under rate.
func (l *Limiter) Allow(ctx context.Context, name, key string, rate Rate) Decision {
	d, _ := l.AllowN(ctx, name, key, rate, 1)
	return d
}

// AllowN is Allow for n events at once, taken in order (the commands of a pipeline): it
// returns how many of them may happen, the first k. The Decision is the last allowed event's
// when k == n, else the first denied one's (Allowed false, with RetryAfter, or Err). One call
// costs what one Allow does, whatever n; n below 1 counts as 1.
func (l *Limiter) AllowN(ctx context.Context, name, key string, rate Rate, n int) (Decision, int) {
	d := Decision{Name: name, Rate: rate}
	n = max(n, 1)
	if rate.IsZero() {
		d.Allowed = true
		return d, n
	}
	v, ok := l.buckets.Load(key)
	if !ok {
		v, _ = l.buckets.LoadOrStore(key, &bucket{})
	}
	b := v.(*bucket)
	now := time.Now()
	b.lastUsed.Store(now.UnixNano())
	k := 0 // events allowed so far
	b.mu.Lock()
	for waited := false; ; waited = true {
		if waited {
			now = time.Now()
		}
		if now.Before(b.blocked) {
			d.RetryAfter = b.blocked.Sub(now)
			d.ResetAfter = max(d.RetryAfter, micro(b.last.resetAfter)-now.Sub(b.lastAt))
			b.mu.Unlock()
			l.stats.Denied.Add(int64(n - k))
			l.stats.DeniedLocally.Add(int64(n - k))
			return d, k
		}
		// Tokens a trip brought for requests that were waiting for it are theirs whatever the
		// lease: Redis charged them, and on a loaded machine a waiter may run only after the
		// lease has ended. Dropping them would admit fewer than the limit.
		if b.tokens > 0 && (b.owed > 0 || now.Before(b.expires)) {
			t := min(n-k, b.tokens)
			b.tokens -= t
			b.owed = max(0, b.owed-t)
			b.served += t
			k += t
			l.stats.Allowed.Add(int64(t))
			if k == n {
				d.Allowed = true
				d.Remaining = max(0, b.last.remaining+b.tokens)
				d.ResetAfter = max(0, micro(b.last.resetAfter)-now.Sub(b.lastAt))
				b.mu.Unlock()
				return d, k
			}
		}
		if b.trip == nil {
			break
		}
		trip := b.trip
		b.waiting += n - k
		b.mu.Unlock()
		select {
		case <-trip:
		case <-ctx.Done():
			b.mu.Lock()
			b.waiting -= n - k
			b.mu.Unlock()
			return l.failedN(d, ctx.Err(), n, k)
		}
		b.mu.Lock()
		b.waiting -= n - k
	}
	// This request makes the trip for itself and everyone who queues behind it meanwhile.
	trip := make(chan struct{})
	b.trip = trip
	b.tokens = 0 // none owed, and the lease has ended
	m := n - k   // the events this trip is for
	need := m + b.waiting
	extra := l.prefetch(rate, b.served)
	b.served = 0
	b.mu.Unlock()

	sent := time.Now()
	rctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
	g, err := take(rctx, l.store, l.opts.Prefix+key, rate, need, extra)
	cancel()
	l.stats.Trips.Add(1)

	b.mu.Lock()
	b.trip = nil
	close(trip)
	if err != nil {
		b.mu.Unlock()
		return l.failedN(d, err, n, k)
	}
	now = time.Now()
	b.last, b.lastAt = g, now
	if g.granted == 0 {
		// Redis decided between sent and now: counted from sent, the local block never
		// outlasts the limit (counted from now it would, by the trip's latency, and a limit
		// of burst 1 would lose that much of every interval).
		b.blocked = sent.Add(micro(g.retryAfter))
		b.tokens = 0
		b.mu.Unlock()
		l.stats.Denied.Add(int64(m))
		d.RetryAfter = micro(g.retryAfter)
		d.ResetAfter = micro(g.resetAfter)
		return d, k
	}
	t := min(g.granted, m)
	b.tokens = g.granted - t
	b.owed = min(g.granted, need) - t
	b.expires = now.Add(l.opts.Lease)
	remaining := g.remaining + b.tokens
	b.mu.Unlock()
	k += t
	l.stats.Allowed.Add(int64(t))
	d.ResetAfter = micro(g.resetAfter)
	if t < m {
		// Redis had fewer tokens than the events asked for: the rest wait for the next one.
		l.stats.Denied.Add(int64(m - t))
		d.RetryAfter = micro(rate.interval())
		return d, k
	}
	d.Allowed = true
	d.Remaining = remaining
	return d, k
}

// failedN applies the failure policy to the events of an AllowN call from the k-th on.
func (l *Limiter) failedN(d Decision, err error, n, k int) (Decision, int) {
	d = l.failed(d, err)
	if d.Allowed {
		return d, n
	}
	return d, k
}

// prefetch returns how many tokens to take ahead of demand: twice what the last prefetch
// served, so it grows while demand keeps up, at least what the rate yields in one lease,
// at most MaxPrefetch and a quarter of the burst.
func (l *Limiter) prefetch(r Rate, served int) int {
	if l.opts.Lease <= 0 {
		return 0
	}
	n := max(2*served, int(int64(l.opts.Lease)*int64(r.Count)/int64(r.Period)))
	return min(n, l.opts.MaxPrefetch, r.Burst/4)
}

// failed applies the failure policy to d.
func (l *Limiter) failed(d Decision, err error) Decision {
	l.stats.Errors.Add(1)
	d.Err = err
	d.Allowed = !l.opts.FailClosed
	if d.Allowed {
		l.opts.Logger.Warn("rate limiter unavailable; allowing (fail-open)", "limit", d.Name, "err", err)
	} else {
		l.opts.Logger.Warn("rate limiter unavailable; denying (fail-closed)", "limit", d.Name, "err", err)
	}
	return d
}

// Prune forgets local state of keys unused for longer than idle and of quota windows
// that have ended; their Redis state is kept.
func (l *Limiter) Prune(idle time.Duration) {
	now := time.Now()
	cutoff := now.Add(-idle).UnixNano()
	l.buckets.Range(func(k, v any) bool {
		if v.(*bucket).lastUsed.Load() < cutoff {
			l.buckets.Delete(k)
		}
		return true
	})
	l.quotas.mu.Lock()
	for k, e := range l.quotas.exhausted {
		if now.After(e.until) {
			delete(l.quotas.exhausted, k)
		}
	}
	l.quotas.mu.Unlock()
}

// Run prunes local state every interval until ctx ends.
func (l *Limiter) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.Prune(interval)
		}
	}
}

func micro(us int64) time.Duration { return time.Duration(us) * time.Microsecond }
