package fastlimit_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
	"go.uber.org/goleak"

	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/ratelimit"
	"github.com/redisgate/redisgate/ratelimit/clientip"
	"github.com/redisgate/redisgate/ratelimit/fastlimit"
	"github.com/redisgate/redisgate/ratelimit/goredisstore"
)

func TestMain(m *testing.M) {
	redistest.Main(m,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
	)
}

var quiet = slog.New(slog.DiscardHandler)

// newLimiter returns a Limiter on its own redis-server, through go-redis.
func newLimiter(t *testing.T) *ratelimit.Limiter {
	rs := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	// A decision that times out fails open: a loaded machine's slow trip must not pass for one.
	return ratelimit.NewLimiter(goredisstore.New(rdb), ratelimit.Options{Logger: quiet, Timeout: 5 * time.Second})
}

func TestMiddlewareAnswersOverTheLimit(t *testing.T) {
	l := newLimiter(t)
	h := fastlimit.Middleware(l, "ip", ratelimit.Rate{Count: 2, Period: time.Minute, Burst: 2}, fastlimit.ClientIP(clientip.Proxies{}))(
		func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("hello") })
	ln := fasthttputil.NewInmemoryListener()
	srv := &fasthttp.Server{Handler: h}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	defer func() { srv.Shutdown(); <-done }()
	tr := &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) { return ln.Dial() }}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	for i, want := range []int{200, 200, 429} {
		res, err := c.Get("http://gw/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("request %d: %d %s, want %d", i, res.StatusCode, body, want)
		}
		if got := res.Header.Get("RateLimit-Policy"); got != `"ip";q=2;w=60` {
			t.Errorf("request %d RateLimit-Policy %q", i, got)
		}
		if want == 429 && (res.Header.Get("Retry-After") == "" || res.Header.Get("Content-Type") != "application/json" ||
			string(body) != `{"error":"ERR rate limit exceeded: ip limit 2/m:2, retry in 30 s"}`) {
			t.Errorf("denied: %v %s", res.Header, body)
		}
	}
}

func TestRespondWithoutLimitsSetsNothing(t *testing.T) {
	var ctx fasthttp.RequestCtx
	if !fastlimit.Respond(&ctx, ratelimit.Decision{}, ratelimit.Decision{}) {
		t.Fatal("zero decisions denied the request")
	}
	if h := ctx.Response.Header.Peek("RateLimit-Policy"); h != nil {
		t.Errorf("zero decisions set RateLimit-Policy: %s", h)
	}
}

func TestClientIPBehindAProxy(t *testing.T) {
	p, err := clientip.ParseProxies("192.0.2.0/24")
	if err != nil {
		t.Fatal(err)
	}
	var req fasthttp.Request
	req.Header.Add("X-Forwarded-For", "1.2.3.4, 198.51.100.7")
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 1234}, nil)
	if got := fastlimit.ClientIP(p)(&ctx); got != "198.51.100.7" {
		t.Errorf("ClientIP = %s, want 198.51.100.7", got)
	}
	if got := fastlimit.ClientIP(clientip.Proxies{})(&ctx); got != "192.0.2.1" {
		t.Errorf("ClientIP with no trusted proxy = %s, want the peer 192.0.2.1", got)
	}
}

// ExampleMiddleware limits each client IP to two requests a minute, with the limiter's
// state in the Redis at REDIS_ADDR, reached through go-redis.
func ExampleMiddleware() {
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv("REDIS_ADDR"), ContextTimeoutEnabled: true})
	defer rdb.Close()
	_ = rdb.FlushDB(context.Background()).Err()

	limiter := ratelimit.NewLimiter(goredisstore.New(rdb), ratelimit.Options{Timeout: time.Second})
	rate := ratelimit.Rate{Count: 2, Period: time.Minute, Burst: 2}
	var proxies clientip.Proxies // none trusted: key by the TCP peer
	hello := func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("hello") }
	h := fastlimit.Middleware(limiter, "ip", rate, fastlimit.ClientIP(proxies))(hello)

	for range 3 {
		var ctx fasthttp.RequestCtx // as a fasthttp.Server would pass it
		ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1234}, nil)
		h(&ctx)
		fmt.Println(ctx.Response.StatusCode(), string(ctx.Response.Header.Peek("RateLimit")), string(ctx.Response.Body()))
	}
	// Output:
	// 200 "ip";r=1;t=30 hello
	// 200 "ip";r=0;t=60 hello
	// 429 "ip";r=0;t=30 {"error":"ERR rate limit exceeded: ip limit 2/m:2, retry in 30 s"}
}
