package ratelimit_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/ratelimit"
	"github.com/redisgate/redisgate/ratelimit/goredisstore"
	"github.com/redisgate/redisgate/ratelimit/poolstore"
)

func TestMain(m *testing.M) { redistest.Main(m) }

var quiet = slog.New(slog.DiscardHandler)

// newStore returns a Store on redisgate's pool to rs.
func newStore(t testing.TB, rs *redistest.Server) ratelimit.Store {
	return poolstore.New(newPool(t, rs))
}

// newGoRedis returns a go-redis client of rs, closed when the test ends.
func newGoRedis(t testing.TB, rs *redistest.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: rs.Addr, PoolSize: 4, ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	return c
}

// stores are the ways a Limiter reaches Redis; tests that hold for any Store run over each.
var stores = []struct {
	name string
	new  func(testing.TB, *redistest.Server) ratelimit.Store
}{
	{"pool", newStore},
	{"goredis", func(t testing.TB, rs *redistest.Server) ratelimit.Store { return goredisstore.New(newGoRedis(t, rs)) }},
}

// eachStore runs f as a subtest over each Store.
func eachStore(t *testing.T, f func(t *testing.T, newStore func(testing.TB, *redistest.Server) ratelimit.Store)) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) { f(t, st.new) })
	}
}

func newPool(t testing.TB, rs *redistest.Server) *pool.Pool {
	t.Helper()
	o, err := pool.ParseURL(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	o.Size = 2
	o.Logger = quiet
	o.DialTimeout = 200 * time.Millisecond
	p := pool.New(o)
	t.Cleanup(func() { p.Close() })
	return p
}

func TestParseRate(t *testing.T) {
	for _, tt := range []struct {
		give string
		want ratelimit.Rate
	}{
		{"10/s", ratelimit.Rate{Count: 10, Period: time.Second, Burst: 10}},
		{"600/m:50", ratelimit.Rate{Count: 600, Period: time.Minute, Burst: 50}},
		{"10000/d", ratelimit.Rate{Count: 10000, Period: 24 * time.Hour, Burst: 10000}},
		{" 5/h:1 ", ratelimit.Rate{Count: 5, Period: time.Hour, Burst: 1}},
		{"1/5s", ratelimit.Rate{Count: 1, Period: 5 * time.Second, Burst: 1}},
	} {
		got, err := ratelimit.ParseRate(tt.give)
		if err != nil || got != tt.want {
			t.Errorf("ParseRate(%q) = %+v, %v; want %+v", tt.give, got, err, tt.want)
		}
		if again, _ := ratelimit.ParseRate(got.String()); again != got {
			t.Errorf("String of %+v does not parse back: %q", got, got.String())
		}
	}
	for _, give := range []string{"", "10", "10/x", "0/s", "-1/s", "10/s:0", "10/s:x", "2000000/s", "a/s"} {
		if _, err := ratelimit.ParseRate(give); err == nil {
			t.Errorf("ParseRate(%q) accepted", give)
		}
	}
}

// TestRemainingIsExact checks every answer of a 10/s limit: remaining counts down from 9 to 0, then a denial.
func TestRemainingIsExact(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(testing.TB, *redistest.Server) ratelimit.Store) {
		rs := redistest.Start(t)
		l := ratelimit.NewLimiter(newStore(t, rs), ratelimit.Options{Lease: -1, Logger: quiet})
		rate := ratelimit.PerSecond(10)
		for want := 9; want >= 0; want-- {
			d := l.Allow(context.Background(), "t", "k", rate)
			if !d.Allowed || d.Remaining != want || d.Err != nil {
				t.Fatalf("request %d: %+v, want allowed with %d remaining", 10-want, d, want)
			}
		}
		d := l.Allow(context.Background(), "t", "k", rate)
		if d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > 100*time.Millisecond || d.Remaining != 0 {
			t.Fatalf("11th request: %+v, want denied with 0 < RetryAfter <= 100ms", d)
		}
		time.Sleep(d.RetryAfter + 5*time.Millisecond)
		if d := l.Allow(context.Background(), "t", "k", rate); !d.Allowed || d.Remaining != 0 {
			t.Fatalf("after RetryAfter: %+v, want allowed with 0 remaining", d)
		}
	})
}

// burst fires n concurrent requests for one key and counts the allowed ones.
func burst(limiters []*ratelimit.Limiter, n int, key string, rate ratelimit.Rate) int64 {
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if l := limiters[i%len(limiters)]; l.Allow(context.Background(), "t", key, rate).Allowed {
				allowed.Add(1)
			}
		}()
	}
	wg.Wait()
	return allowed.Load()
}

func TestBurstAdmitsExactlyBurst(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(testing.TB, *redistest.Server) ratelimit.Store) {
		rs := redistest.Start(t)
		// Three limiters on three pools stand for three gateway processes sharing one Redis.
		var ls []*ratelimit.Limiter
		for range 3 {
			// A decision that times out fails open and admits one too many: this test counts
			// admissions, so a loaded machine's slow trip must not count as a limiter failure.
			ls = append(ls, ratelimit.NewLimiter(newStore(t, rs), ratelimit.Options{Logger: quiet, Timeout: 5 * time.Second}))
		}
		for _, b := range []int{1, 10, 100} {
			rate := ratelimit.Rate{Count: 1, Period: time.Hour, Burst: b}
			if got := burst(ls[:1], 10*b, fmt.Sprint("one-", b), rate); got != int64(b) {
				t.Errorf("one limiter, burst %d: %d of %d admitted", b, got, 10*b)
			}
			if got := burst(ls, 10*b, fmt.Sprint("three-", b), rate); got != int64(b) {
				t.Errorf("three limiters, burst %d: %d of %d admitted", b, got, 10*b)
			}
		}
		for _, l := range ls {
			if errs := l.Stats().Errors.Load(); errs != 0 {
				t.Errorf("%d limiter errors", errs)
			}
		}
	})
}

// TestSteadyOverload runs 5 s of overload and checks that B + 5R pass, ±2%.
func TestSteadyOverload(t *testing.T) {
	rs := redistest.Start(t)
	var ls []*ratelimit.Limiter
	for range 3 {
		ls = append(ls, ratelimit.NewLimiter(newStore(t, rs), ratelimit.Options{Logger: quiet, Timeout: 5 * time.Second}))
	}
	rate := ratelimit.Rate{Count: 100, Period: time.Second, Burst: 50}
	var allowed, denied atomic.Int64
	start := time.Now()
	stop := start.Add(5 * time.Second)
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := ls[i%len(ls)]
			for time.Now().Before(stop) {
				if l.Allow(context.Background(), "t", "steady", rate).Allowed {
					allowed.Add(1)
				} else {
					denied.Add(1)
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	wg.Wait()
	want := float64(rate.Burst) + time.Since(start).Seconds()*float64(rate.Count)
	got := float64(allowed.Load())
	t.Logf("admitted %v of %d, ideal %.1f", got, allowed.Load()+denied.Load(), want)
	if math.Abs(got-want) > 0.02*want {
		t.Errorf("admitted %v, want %.1f ± 2%%", got, want)
	}
}

func TestOverLimitIsAnsweredLocally(t *testing.T) {
	rs := redistest.Start(t)
	l := ratelimit.NewLimiter(newStore(t, rs), ratelimit.Options{Logger: quiet})
	rate := ratelimit.Rate{Count: 1, Period: time.Hour, Burst: 2}
	for range 2 {
		if !l.Allow(context.Background(), "t", "k", rate).Allowed {
			t.Fatal("denied within burst")
		}
	}
	if l.Allow(context.Background(), "t", "k", rate).Allowed {
		t.Fatal("allowed over burst")
	}
	trips := l.Stats().Trips.Load()
	for range 1000 {
		if d := l.Allow(context.Background(), "t", "k", rate); d.Allowed || d.RetryAfter <= 0 {
			t.Fatalf("over-limit decision %+v", d)
		}
	}
	if got := l.Stats().Trips.Load(); got != trips {
		t.Errorf("1000 over-limit requests made %d trips to Redis, want 0", got-trips)
	}
	if got := l.Stats().DeniedLocally.Load(); got != 1000 {
		t.Errorf("denied locally %d, want 1000", got)
	}
}

func TestPrefetchSavesTrips(t *testing.T) {
	rs := redistest.Start(t)
	l := ratelimit.NewLimiter(newStore(t, rs), ratelimit.Options{Logger: quiet})
	rate := ratelimit.Rate{Count: 100000, Period: time.Second, Burst: 100000}
	for range 1000 {
		if !l.Allow(context.Background(), "t", "k", rate).Allowed {
			t.Fatal("denied far below the limit")
		}
	}
	if trips := l.Stats().Trips.Load(); trips > 10 {
		t.Errorf("1000 requests far below the limit made %d trips, want at most 10", trips)
	}
}

func TestFailurePolicy(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(testing.TB, *redistest.Server) ratelimit.Store) {
		rs := redistest.Start(t)
		store := newStore(t, rs)
		open := ratelimit.NewLimiter(store, ratelimit.Options{Logger: quiet, Lease: -1})
		closed := ratelimit.NewLimiter(store, ratelimit.Options{Logger: quiet, Lease: -1, FailClosed: true})
		rate := ratelimit.PerSecond(1000)
		if d := open.Allow(context.Background(), "t", "k", rate); !d.Allowed || d.Err != nil {
			t.Fatalf("before the outage: %+v", d)
		}
		rs.Kill()
		for _, tt := range []struct {
			l           *ratelimit.Limiter
			wantAllowed bool
		}{{open, true}, {closed, false}} {
			start := time.Now()
			d := tt.l.Allow(context.Background(), "t", "k2", rate)
			if d.Err == nil || d.Allowed != tt.wantAllowed {
				t.Errorf("during the outage: %+v, want allowed=%v with an error", d, tt.wantAllowed)
			}
			if took := time.Since(start); took > 200*time.Millisecond {
				t.Errorf("decision during the outage took %v", took)
			}
			if q := tt.l.Charge(context.Background(), "u", ratelimit.Quota{Daily: 10}, 1); q.Err == nil || q.Allowed != tt.wantAllowed {
				t.Errorf("quota during the outage: %+v, want allowed=%v with an error", q, tt.wantAllowed)
			}
		}
	})
}

func TestQuota(t *testing.T) {
	rs := redistest.Start(t)
	l := ratelimit.NewLimiter(newStore(t, rs), ratelimit.Options{Logger: quiet})
	q := ratelimit.Quota{Daily: 5, Monthly: 100}
	for i, tt := range []struct {
		n             int
		wantAllowed   bool
		wantRemaining int64
	}{{2, true, 3}, {2, true, 1}, {2, false, 1}, {1, true, 0}, {1, false, 0}} {
		d := l.Charge(context.Background(), "user", q, tt.n)
		if d.Allowed != tt.wantAllowed || d.Remaining != tt.wantRemaining || d.Err != nil {
			t.Errorf("charge %d of %d: %+v, want allowed=%v remaining=%d", i, tt.n, d, tt.wantAllowed, tt.wantRemaining)
		}
		if !d.Allowed && (d.Window != "daily" || d.RetryAfter <= 0 || d.RetryAfter > 24*time.Hour) {
			t.Errorf("refusal %+v, want the daily window and a retry within a day", d)
		}
	}
	monthly := ratelimit.Quota{Monthly: 3}
	if d := l.Charge(context.Background(), "other", monthly, 4); d.Allowed || d.Window != "monthly" {
		t.Errorf("monthly refusal: %+v", d)
	}
}

func TestHeaders(t *testing.T) {
	ip := ratelimit.Decision{Name: "ip", Rate: ratelimit.Rate{Count: 100, Period: time.Minute, Burst: 100}, Allowed: true, Remaining: 50, ResetAfter: 29500 * time.Millisecond}
	tok := ratelimit.Decision{Name: "token", Rate: ratelimit.Rate{Count: 10, Period: time.Second, Burst: 10}, Remaining: 0, RetryAfter: 1200 * time.Millisecond}
	got := map[string]string{}
	for _, h := range ratelimit.Headers(ip, tok) {
		got[h.Key] = h.Value
	}
	want := map[string]string{
		"RateLimit-Policy":      `"ip";q=100;w=60, "token";q=10;w=1`,
		"RateLimit":             `"ip";r=50;t=30, "token";r=0;t=2`,
		"X-RateLimit-Limit":     "10",
		"X-RateLimit-Remaining": "0",
		"X-RateLimit-Reset":     "2",
		"Retry-After":           "2",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("headers %v", got)
	}
	if h := ratelimit.Headers(ip); len(h) != 5 {
		t.Errorf("allowed request got %d headers, want 5 without Retry-After", len(h))
	}
}

// slowStore delays every answer of its Store by delay, as a loaded machine or a far Redis does.
type slowStore struct {
	ratelimit.Store
	delay time.Duration
}

func (s slowStore) Eval(ctx context.Context, src, sha string, keys []string, args ...string) ([]int64, error) {
	v, err := s.Store.Eval(ctx, src, sha, keys, args...)
	time.Sleep(s.delay)
	return v, err
}

// TestWaitersKeepTheirTokensPastTheLease checks that tokens a trip brought for requests that
// were waiting for it are theirs even when the lease ends before they run: a burst of 20
// concurrent requests, with trips slower than the lease, admits exactly 20.
func TestWaitersKeepTheirTokensPastTheLease(t *testing.T) {
	rs := redistest.Start(t)
	for _, lease := range []time.Duration{-1, time.Millisecond} {
		st := slowStore{newStore(t, rs), 20 * time.Millisecond}
		l := ratelimit.NewLimiter(st, ratelimit.Options{Lease: lease, Timeout: 5 * time.Second, Logger: quiet})
		rate := ratelimit.Rate{Count: 1, Period: time.Hour, Burst: 20}
		if got := burst([]*ratelimit.Limiter{l}, 60, fmt.Sprint("owed-", lease), rate); got != 20 {
			t.Errorf("lease %v: %d of 60 admitted, want the burst of 20", lease, got)
		}
		if trips := l.Stats().Trips.Load(); trips > 10 {
			t.Errorf("lease %v: %d trips for one burst of 60 concurrent requests, want them shared", lease, trips)
		}
	}
}

func TestAnswer(t *testing.T) {
	rate := ratelimit.Rate{Count: 100, Period: time.Minute, Burst: 100}
	for _, tt := range []struct {
		name       string
		give       []ratelimit.Decision
		wantStatus int
		wantBody   string
	}{
		{"nothing checked", []ratelimit.Decision{{}, {}}, 0, ""},
		{"allowed", []ratelimit.Decision{{Name: "ip", Rate: rate, Allowed: true}}, 0, ""},
		{"denied", []ratelimit.Decision{{Name: "ip", Rate: rate, Allowed: true}, {Name: "token", Rate: rate, RetryAfter: 1500 * time.Millisecond}},
			429, `{"error":"ERR rate limit exceeded: token limit 100/m:100, retry in 2 s"}`},
		{"failed closed", []ratelimit.Decision{{Name: "ip", Err: ratelimit.ErrUnavailable}}, 503, `{"error":"ERR rate limiter unavailable"}`},
		{"failed open", []ratelimit.Decision{{Name: "ip", Rate: rate, Allowed: true, Err: ratelimit.ErrUnavailable}}, 0, ""},
	} {
		status, body, denied := ratelimit.Answer(nil, tt.give...)
		if status != tt.wantStatus || string(body) != tt.wantBody || denied != (tt.wantStatus != 0) {
			t.Errorf("%s: Answer = %d %q %v, want %d %q", tt.name, status, body, denied, tt.wantStatus, tt.wantBody)
		}
	}
}

// TestAllowN checks AllowN's arithmetic on one limiter: the first k of n events pass, the
// denial of the rest says when to retry, and a limiter's prefetched tokens serve a call in part.
func TestAllowN(t *testing.T) {
	rs := redistest.Start(t)
	l := ratelimit.NewLimiter(newStore(t, rs), ratelimit.Options{Logger: quiet, Timeout: 5 * time.Second})
	ctx := context.Background()
	rate := ratelimit.Rate{Count: 1, Period: time.Hour, Burst: 10}
	steps := []struct{ n, want int }{{4, 4}, {1, 1}, {10, 5}, {3, 0}}
	for i, s := range steps {
		d, k := l.AllowN(ctx, "t", "n", rate, s.n)
		if k != s.want || d.Allowed != (k == s.n) {
			t.Fatalf("step %d: AllowN(%d) = %d, allowed %v; want %d", i, s.n, k, d.Allowed, s.want)
		}
		if !d.Allowed && d.RetryAfter <= 0 {
			t.Errorf("step %d: denied without RetryAfter: %+v", i, d)
		}
	}
	if got := l.Stats().Allowed.Load(); got != 10 {
		t.Errorf("Stats().Allowed = %d, want 10 (one per event)", got)
	}
	if got := l.Stats().Denied.Load(); got != 5+3 {
		t.Errorf("Stats().Denied = %d, want 8", got)
	}
	// A rate of zero allows every event.
	if d, k := l.AllowN(ctx, "t", "zero", ratelimit.Rate{}, 7); k != 7 || !d.Allowed {
		t.Errorf("zero rate: %d allowed, %v", k, d.Allowed)
	}
}

// TestAllowNAdmitsExactlyBurst sends batches of random sizes from many goroutines over three
// limiters sharing one Redis: exactly the burst passes, never more, whatever the batch sizes.
func TestAllowNAdmitsExactlyBurst(t *testing.T) {
	rs := redistest.Start(t)
	var ls []*ratelimit.Limiter
	for range 3 {
		ls = append(ls, ratelimit.NewLimiter(newStore(t, rs), ratelimit.Options{Logger: quiet, Timeout: 5 * time.Second}))
	}
	for _, b := range []int{1, 17, 200} {
		rate := ratelimit.Rate{Count: 1, Period: time.Hour, Burst: b}
		var allowed atomic.Int64
		var wg sync.WaitGroup
		for i := range 60 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n := 1 + (i*7)%16 // 1…16 events
				_, k := ls[i%3].AllowN(context.Background(), "t", fmt.Sprint("burst-", b), rate, n)
				allowed.Add(int64(k))
			}()
		}
		wg.Wait()
		if got := allowed.Load(); got != int64(b) {
			t.Errorf("burst %d: %d events admitted", b, got)
		}
	}
}
