package httplimit_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/ratelimit"
	"github.com/redisgate/redisgate/ratelimit/clientip"
	"github.com/redisgate/redisgate/ratelimit/goredisstore"
	"github.com/redisgate/redisgate/ratelimit/httplimit"
)

func TestMain(m *testing.M) { redistest.Main(m) }

var quiet = slog.New(slog.DiscardHandler)

// newLimiter returns a Limiter on its own redis-server, through go-redis.
func newLimiter(t *testing.T, opts ratelimit.Options) (*ratelimit.Limiter, *redistest.Server) {
	rs := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	opts.Logger = quiet
	if opts.Timeout == 0 {
		// A decision that times out fails open: a loaded machine's slow trip must not pass for one.
		opts.Timeout = 5 * time.Second
	}
	return ratelimit.NewLimiter(goredisstore.New(rdb), opts), rs
}

func hello(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hello") }

func TestMiddlewareAnswersOverTheLimit(t *testing.T) {
	l, _ := newLimiter(t, ratelimit.Options{})
	h := httplimit.Middleware(l, "ip", ratelimit.Rate{Count: 1, Period: 5 * time.Second, Burst: 1}, httplimit.ClientIP(clientip.Proxies{}))(http.HandlerFunc(hello))
	srv := httptest.NewServer(h)
	defer srv.Close()
	for i, want := range []int{200, 429, 429} {
		res, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != want {
			t.Fatalf("request %d: %d %s, want %d", i, res.StatusCode, body, want)
		}
		if res.Header.Get("RateLimit-Policy") != `"ip";q=1;w=5` || res.Header.Get("X-RateLimit-Limit") != "1" {
			t.Errorf("request %d headers %v", i, res.Header)
		}
		if want == 429 {
			if res.Header.Get("Retry-After") != "5" || res.Header.Get("Content-Type") != "application/json" ||
				string(body) != `{"error":"ERR rate limit exceeded: ip limit 1/5s:1, retry in 5 s"}` {
				t.Errorf("denied answer %q, headers %v", body, res.Header)
			}
		}
	}
}

func TestMiddlewareSkipsEmptyKeys(t *testing.T) {
	l, _ := newLimiter(t, ratelimit.Options{})
	none := func(*http.Request) string { return "" }
	h := httplimit.Middleware(l, "user", ratelimit.Rate{Count: 1, Period: time.Hour, Burst: 1}, none)(http.HandlerFunc(hello))
	for range 3 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		if w.Code != 200 || w.Header().Get("RateLimit") != "" {
			t.Fatalf("unkeyed request: %d %v", w.Code, w.Header())
		}
	}
}

func TestMiddlewareFailsClosedWith503(t *testing.T) {
	l, rs := newLimiter(t, ratelimit.Options{FailClosed: true, Lease: -1, Timeout: 200 * time.Millisecond})
	rs.Kill()
	h := httplimit.Middleware(l, "ip", ratelimit.PerSecond(10), httplimit.ClientIP(clientip.Proxies{}))(http.HandlerFunc(hello))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 503 || w.Body.String() != `{"error":"ERR rate limiter unavailable"}` {
		t.Fatalf("with Redis down: %d %s", w.Code, w.Body)
	}
}

func TestClientIPBehindAProxy(t *testing.T) {
	p, err := clientip.ParseProxies("192.0.2.0/24")
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil) // RemoteAddr 192.0.2.1:1234
	r.Header.Add("X-Forwarded-For", "1.2.3.4, 198.51.100.7")
	if got := httplimit.ClientIP(p)(r); got != "198.51.100.7" {
		t.Errorf("ClientIP = %s, want 198.51.100.7", got)
	}
	if got := httplimit.ClientIP(clientip.Proxies{})(r); got != "192.0.2.1" {
		t.Errorf("ClientIP with no trusted proxy = %s, want the peer 192.0.2.1", got)
	}
}

// ExampleMiddleware limits each client IP to one request per 5 s, with the limiter's state
// in the Redis at REDIS_ADDR, reached through go-redis.
func ExampleMiddleware() {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv("REDIS_ADDR"), ContextTimeoutEnabled: true})
	defer rdb.Close()
	_ = rdb.FlushDB(ctx).Err()

	limiter := ratelimit.NewLimiter(goredisstore.New(rdb), ratelimit.Options{Timeout: time.Second})
	rate, _ := ratelimit.ParseRate("1/5s")
	var proxies clientip.Proxies // none trusted: key by the TCP peer
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello\n") })
	h := httplimit.Middleware(limiter, "ip", rate, httplimit.ClientIP(proxies))(hello)

	for range 2 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		fmt.Println(w.Code, w.Header().Get("RateLimit"), strings.TrimSpace(w.Body.String()))
	}
	// Output:
	// 200 "ip";r=0;t=5 hello
	// 429 "ip";r=0;t=5 {"error":"ERR rate limit exceeded: ip limit 1/5s:1, retry in 5 s"}
}
