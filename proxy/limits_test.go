package proxy_test

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/proxy"
	"github.com/redisgate/redisgate/ratelimit"
	"github.com/redisgate/redisgate/ratelimit/clientip"
	"github.com/redisgate/redisgate/ratelimit/poolstore"
)

// newLimiter returns a limiter whose state lives on its own redis-server, returned too.
func newLimiter(t testing.TB, failClosed bool) (*ratelimit.Limiter, *redistest.Server) {
	t.Helper()
	rs := redistest.Start(t)
	o, _ := pool.ParseURL(rs.URL())
	o.Size = 1
	o.Logger = slog.New(slog.DiscardHandler)
	o.DialTimeout = 100 * time.Millisecond
	p := pool.New(o)
	t.Cleanup(func() { p.Close() })
	// Decisions get 5 s rather than the default 50 ms: the tests count admissions exactly, and
	// on a loaded machine a slow trip would be decided by the failure policy instead.
	return ratelimit.NewLimiter(poolstore.New(p), ratelimit.Options{FailClosed: failClosed, Timeout: 5 * time.Second, Logger: slog.New(slog.DiscardHandler)}), rs
}

// countStatuses fires n concurrent requests and counts answers by status.
func countStatuses(g *gateway, n int, method, path, body string, headers ...string) map[int]int {
	var mu sync.Mutex
	got := map[int]int{}
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := g.req(method, path, body, headers...)
			mu.Lock()
			got[r.status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	return got
}

func TestIPLimit(t *testing.T) {
	l, _ := newLimiter(t, false)
	g := startGateway(t, withOptions(func(o *proxy.Options) {
		o.Limiter = l
		o.IPRate = ratelimit.Rate{Count: 1, Period: time.Hour, Burst: 5}
	}))
	// Claims of other addresses from an untrusted peer change nothing: every request is 127.0.0.1's.
	got := countStatuses(g, 50, "GET", "/ping", "", "X-Forwarded-For", "203.0.113.1", "Forwarded", "for=198.51.100.2")
	if got[200] != 5 || got[429] != 45 {
		t.Fatalf("statuses %v, want 5×200 and 45×429", got)
	}
	r := g.req("GET", "/ping", "")
	if r.status != 429 || !strings.HasPrefix(r.body, `{"error":"ERR rate limit exceeded: ip limit 1/h:5, retry in `) {
		t.Fatalf("over the limit: %d %s", r.status, r.body)
	}
	for k, want := range map[string]string{"RateLimit-Policy": `"ip";q=1;w=3600`, "X-RateLimit-Limit": "1", "X-RateLimit-Remaining": "0", "Access-Control-Allow-Origin": "*"} {
		if got := r.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After %q", ra)
	}
	// An IP limit applies before authentication: a wrong token is refused by the limiter, not the auth.
	if r := g.req("GET", "/ping", "", "Authorization", "Bearer wrong-wrong-wrong-wrong"); r.status != 429 {
		t.Errorf("unauthenticated request over the IP limit: %d", r.status)
	}
}

func TestTrustedProxyPicksTheClient(t *testing.T) {
	l, _ := newLimiter(t, false)
	proxies, _ := clientip.ParseProxies("127.0.0.0/8")
	g := startGateway(t, withOptions(func(o *proxy.Options) {
		o.Limiter = l
		o.IPRate = ratelimit.Rate{Count: 1, Period: time.Hour, Burst: 2}
		o.Proxies = proxies
	}))
	for _, client := range []string{"203.0.113.1", "203.0.113.2"} {
		// The proxy appends the client it saw; an address the client wrote itself comes first and is ignored.
		xff := "6.6.6.6, " + client
		for i, want := range []int{200, 200, 429} {
			if r := g.req("GET", "/ping", "", "X-Forwarded-For", xff); r.status != want {
				t.Errorf("client %s request %d: %d, want %d", client, i, r.status, want)
			}
		}
	}
}

func TestTokenLimitAndAllowedHeaders(t *testing.T) {
	l, _ := newLimiter(t, false)
	g := startGateway(t, withOptions(func(o *proxy.Options) {
		o.Limiter = l
		o.IPRate = ratelimit.Rate{Count: 1000, Period: time.Second, Burst: 1000}
		o.TokenRate = ratelimit.Rate{Count: 1, Period: time.Hour, Burst: 3}
	}))
	r := g.req("GET", "/ping", "")
	if r.status != 200 {
		t.Fatalf("first request %d %s", r.status, r.body)
	}
	if got := r.header.Get("RateLimit-Policy"); got != `"ip";q=1000;w=1, "token";q=1;w=3600` {
		t.Errorf("RateLimit-Policy %q", got)
	}
	if got := r.header.Get("RateLimit"); !strings.HasPrefix(got, `"ip";r=`) || !strings.Contains(got, `"token";r=2;t=`) {
		t.Errorf("RateLimit %q", got)
	}
	if got := r.header.Get("X-RateLimit-Remaining"); got != "2" {
		t.Errorf("X-RateLimit-Remaining %q, want the token's 2", got)
	}
	got := countStatuses(g, 10, "POST", "/pipeline", `[["PING"],["PING"]]`)
	if got[200] != 2 || got[429] != 8 {
		t.Errorf("statuses %v, want 2×200 and 8×429", got)
	}
	// The read-only token is another user with its own bucket.
	if r := g.req("GET", "/ping", "", "Authorization", "Bearer "+roToken); r.status != 200 {
		t.Errorf("other token: %d %s", r.status, r.body)
	}
}

func TestQuotaCountsCommands(t *testing.T) {
	l, _ := newLimiter(t, false)
	g := startGateway(t, withOptions(func(o *proxy.Options) {
		o.Limiter = l
		o.Quota = ratelimit.Quota{Daily: 5}
	}))
	g.req("POST", "/pipeline", `[["PING"],["PING"],["PING"]]`).expect(t, 200, `[{"result":"PONG"},{"result":"PONG"},{"result":"PONG"}]`)
	r := g.req("POST", "/multi-exec", `[["SET","a","1"],["SET","b","2"],["SET","c","3"]]`)
	if r.status != 429 || !strings.HasPrefix(r.body, `{"error":"ERR daily command quota exceeded: 2 left, 3 asked; retry in `) || r.header.Get("Retry-After") == "" {
		t.Errorf("over quota: %d %s %v", r.status, r.body, r.header)
	}
	g.req("GET", "/get/a", "").expect(t, 200, `{"result":null}`)
	g.req("GET", "/ping", "").expect(t, 200, `{"result":"PONG"}`)
	if r := g.req("GET", "/ping", ""); r.status != 429 {
		t.Errorf("quota used up: %d %s", r.status, r.body)
	}
}

func TestLimiterOutage(t *testing.T) {
	for _, tt := range []struct {
		name       string
		failClosed bool
		wantStatus int
	}{{"fail-open", false, 200}, {"fail-closed", true, 503}} {
		t.Run(tt.name, func(t *testing.T) {
			l, lrs := newLimiter(t, tt.failClosed)
			g := startGateway(t, withOptions(func(o *proxy.Options) {
				o.Limiter = l
				o.IPRate = ratelimit.PerSecond(1000)
			}))
			g.req("GET", "/ping", "").expect(t, 200, `{"result":"PONG"}`)
			lrs.Kill()
			time.Sleep(150 * time.Millisecond) // tokens granted ahead of demand stay usable for their 100ms lease
			for range 5 {
				start := time.Now()
				r := g.req("GET", "/ping", "")
				if r.status != tt.wantStatus {
					t.Errorf("limiter down: %d %s, want %d", r.status, r.body, tt.wantStatus)
				}
				if took := time.Since(start); took > 300*time.Millisecond {
					t.Errorf("request with the limiter down took %v", took)
				}
			}
		})
	}
}
