package limit_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/redisgate/redisgate/internal/gatewaytest"
	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/lambda/limit"
	"github.com/redisgate/redisgate/lambda/rest"
	"github.com/redisgate/redisgate/ratelimit"
	"github.com/redisgate/redisgate/ratelimit/clientip"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
	)
}

var quiet = slog.New(slog.DiscardHandler)

var perMinute = ratelimit.Rate{Count: 1, Period: time.Minute, Burst: 1}

// newGuard returns a Guard whose limiter keeps its state through the gateway at url, as one
// Lambda container's would.
func newGuard(t *testing.T, url string, lopts ratelimit.Options, opts limit.Options, limits ...limit.Limit) *limit.Guard {
	t.Helper()
	c, err := rest.New(rest.Options{URL: url, Token: gatewaytest.Token, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	lopts.Logger = quiet
	return limit.New(limit.NewLimiter(c, lopts), opts, limits...)
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decode[T any](t *testing.T, raw []byte) T {
	t.Helper()
	var e T
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

// answer is a handler's response, whatever its event type.
type answer struct {
	status  int
	headers map[string]string
	multi   map[string][]string
	body    string
	desc    string // ALB status description
}

// eventType wraps a handler for one event type and invokes it with a fixture.
type eventType struct {
	request func(t *testing.T, raw []byte) *limit.Request
	invoke  func(t *testing.T, g *limit.Guard, raw []byte) answer
}

// handlerHeaders are the headers the test handlers set themselves.
func handlerHeaders() map[string]string {
	return map[string]string{"Content-Type": "text/plain", "X-Handler": "ran"}
}

// eventTypes returns the event types by name.
func eventTypes() map[string]eventType {
	return map[string]eventType{
		"v1": {
			request: func(t *testing.T, raw []byte) *limit.Request {
				e := decode[events.APIGatewayProxyRequest](t, raw)
				return limit.RequestFromAPIGatewayProxy(&e)
			},
			invoke: func(t *testing.T, g *limit.Guard, raw []byte) answer {
				h := limit.APIGatewayProxy(g, func(ctx context.Context, e events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
					return events.APIGatewayProxyResponse{StatusCode: 200, Headers: handlerHeaders(), Body: "hello"}, nil
				})
				res, err := h(context.Background(), decode[events.APIGatewayProxyRequest](t, raw))
				if err != nil {
					t.Fatal(err)
				}
				return answer{status: res.StatusCode, headers: res.Headers, body: res.Body}
			},
		},
		"v2": {
			request: func(t *testing.T, raw []byte) *limit.Request {
				e := decode[events.APIGatewayV2HTTPRequest](t, raw)
				return limit.RequestFromAPIGatewayV2HTTP(&e)
			},
			invoke: func(t *testing.T, g *limit.Guard, raw []byte) answer {
				h := limit.APIGatewayV2HTTP(g, func(ctx context.Context, e events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
					return events.APIGatewayV2HTTPResponse{StatusCode: 200, Headers: handlerHeaders(), Body: "hello"}, nil
				})
				res, err := h(context.Background(), decode[events.APIGatewayV2HTTPRequest](t, raw))
				if err != nil {
					t.Fatal(err)
				}
				return answer{status: res.StatusCode, headers: res.Headers, body: res.Body}
			},
		},
		"url": {
			request: func(t *testing.T, raw []byte) *limit.Request {
				e := decode[events.LambdaFunctionURLRequest](t, raw)
				return limit.RequestFromFunctionURL(&e)
			},
			invoke: func(t *testing.T, g *limit.Guard, raw []byte) answer {
				h := limit.FunctionURL(g, func(ctx context.Context, e events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
					// No headers map: the wrapper must allocate one.
					return events.LambdaFunctionURLResponse{StatusCode: 200, Body: "hello"}, nil
				})
				res, err := h(context.Background(), decode[events.LambdaFunctionURLRequest](t, raw))
				if err != nil {
					t.Fatal(err)
				}
				return answer{status: res.StatusCode, headers: res.Headers, body: res.Body}
			},
		},
		"alb": {
			request: func(t *testing.T, raw []byte) *limit.Request {
				e := decode[events.ALBTargetGroupRequest](t, raw)
				return limit.RequestFromALB(&e)
			},
			invoke: func(t *testing.T, g *limit.Guard, raw []byte) answer {
				h := limit.ALB(g, func(ctx context.Context, e events.ALBTargetGroupRequest) (events.ALBTargetGroupResponse, error) {
					return events.ALBTargetGroupResponse{StatusCode: 200, StatusDescription: "200 OK", Body: "hello"}, nil
				})
				res, err := h(context.Background(), decode[events.ALBTargetGroupRequest](t, raw))
				if err != nil {
					t.Fatal(err)
				}
				return answer{status: res.StatusCode, headers: res.Headers, multi: res.MultiValueHeaders, body: res.Body, desc: res.StatusDescription}
			},
		},
	}
}

// header reads a response header from Headers or, for multi-value answers, MultiValueHeaders.
func (a answer) header(k string) string {
	if vs, ok := a.multi[k]; ok {
		return strings.Join(vs, ",")
	}
	return a.headers[k]
}

// TestEventTypes invokes a wrapped handler with each event type's fixture against a real
// gateway: the first request runs the handler with the rate-limit headers added, the second
// gets 429 with Retry-After and a JSON error, and the bucket in Redis is the one of the
// client IP read from the right field of the event (not the spoofable first X-Forwarded-For entry).
func TestEventTypes(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	rdb := redis.NewClient(&redis.Options{Addr: gw.Redis.Addr})
	defer rdb.Close()
	tests := []struct {
		typ, fixture     string
		wantIP, wantUser string
		decoyIP          string // in the event, but not the client
		wantMulti        bool   // headers answered in MultiValueHeaders
	}{
		{typ: "v1", fixture: "apigw-rest.json", wantIP: "198.51.100.10", wantUser: "user-rest-42", decoyIP: "192.0.2.200"},
		{typ: "v2", fixture: "apigw-http.json", wantIP: "198.51.100.20", wantUser: "user-http-7f3a", decoyIP: "192.0.2.201"},
		{typ: "v2", fixture: "function-url.json", wantIP: "198.51.100.30", decoyIP: "192.0.2.202"}, // a Function URL event served by a v2 handler
		{typ: "url", fixture: "function-url.json", wantIP: "198.51.100.30", decoyIP: "192.0.2.202"},
		{typ: "alb", fixture: "alb.json", wantIP: "198.51.100.40", decoyIP: "192.0.2.203"},
		{typ: "alb", fixture: "alb-multivalue.json", wantIP: "198.51.100.50", wantUser: "user-alb-31", decoyIP: "192.0.2.205", wantMulti: true},
	}
	for _, tt := range tests {
		t.Run(tt.typ+"/"+tt.fixture, func(t *testing.T) {
			et := eventTypes()[tt.typ]
			raw := fixture(t, tt.fixture)
			r := et.request(t, raw)
			if r.Peer.String() != tt.wantIP || r.User != tt.wantUser {
				t.Errorf("request: peer %v user %q, want %s %q", r.Peer, r.User, tt.wantIP, tt.wantUser)
			}
			rdb.FlushAll(context.Background())
			g := newGuard(t, gw.URL, ratelimit.Options{}, limit.Options{}, limit.PerIP(perMinute))

			first := et.invoke(t, g, raw)
			if first.status != 200 || first.body != "hello" {
				t.Fatalf("first request: %d %q, want the handler's 200", first.status, first.body)
			}
			if (first.multi != nil) != tt.wantMulti {
				t.Errorf("headers in MultiValueHeaders: %v, want %v", first.multi != nil, tt.wantMulti)
			}
			for k, want := range map[string]string{
				"RateLimit-Policy": `"ip";q=1;w=60`, "RateLimit": `"ip";r=0;t=60`,
				"X-RateLimit-Limit": "1", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "60", "Retry-After": "",
			} {
				if got := first.header(k); got != want {
					t.Errorf("first answer: %s = %q, want %q", k, got, want)
				}
			}
			if tt.typ == "v1" && first.header("X-Handler") != "ran" {
				t.Errorf("the handler's own headers were lost: %v", first.headers)
			}
			if n, _ := rdb.Exists(context.Background(), "redisgate:rl:ip:"+tt.wantIP).Result(); n != 1 {
				t.Errorf("no bucket for client %s in Redis", tt.wantIP)
			}
			if n, _ := rdb.Exists(context.Background(), "redisgate:rl:ip:"+tt.decoyIP).Result(); n != 0 {
				t.Errorf("bucket for decoy %s in Redis", tt.decoyIP)
			}

			second := et.invoke(t, g, raw)
			if second.status != 429 {
				t.Fatalf("second request: %d, want 429", second.status)
			}
			retry, _ := strconv.Atoi(second.header("Retry-After"))
			if retry < 59 || retry > 60 {
				t.Errorf("Retry-After = %q, want 60", second.header("Retry-After"))
			}
			var body struct{ Error string }
			if err := json.Unmarshal([]byte(second.body), &body); err != nil || !strings.HasPrefix(body.Error, "ERR rate limit exceeded: ip limit 1/m:1, retry in") {
				t.Errorf("429 body %q (%v)", second.body, err)
			}
			if second.header("Content-Type") != "application/json" || second.header("RateLimit") == "" || second.header("X-RateLimit-Remaining") != "0" {
				t.Errorf("429 headers: %v %v", second.headers, second.multi)
			}
			if tt.typ == "alb" && second.desc != "429 Too Many Requests" {
				t.Errorf("ALB status description %q", second.desc)
			}
		})
	}
}

// TestSharedAcrossContainers checks that two containers (two clients, two limiters) share one limit.
func TestSharedAcrossContainers(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	raw := fixture(t, "apigw-http.json")
	a := newGuard(t, gw.URL, ratelimit.Options{}, limit.Options{}, limit.PerIP(ratelimit.Rate{Count: 2, Period: time.Minute, Burst: 2}))
	b := newGuard(t, gw.URL, ratelimit.Options{}, limit.Options{}, limit.PerIP(ratelimit.Rate{Count: 2, Period: time.Minute, Burst: 2}))
	v2 := eventTypes()["v2"]
	if s := v2.invoke(t, a, raw).status; s != 200 {
		t.Fatalf("container a: %d", s)
	}
	if s := v2.invoke(t, b, raw).status; s != 200 {
		t.Fatalf("container b: %d", s)
	}
	if s := v2.invoke(t, a, raw).status; s != 429 {
		t.Errorf("container a, third request overall: %d, want 429", s)
	}
	if s := v2.invoke(t, b, raw).status; s != 429 {
		t.Errorf("container b, fourth request overall: %d, want 429", s)
	}
}

// TestPerUserAndIP checks two limits at once: both in the headers, the per-user one denying,
// anonymous requests limited per IP only.
func TestPerUserAndIP(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	g := newGuard(t, gw.URL, ratelimit.Options{}, limit.Options{},
		limit.PerIP(ratelimit.Rate{Count: 100, Period: time.Minute, Burst: 100}), limit.PerUser(perMinute))
	v2 := eventTypes()["v2"]
	user := fixture(t, "apigw-http.json")
	first := v2.invoke(t, g, user)
	if first.status != 200 || first.headers["RateLimit-Policy"] != `"ip";q=100;w=60, "user";q=1;w=60` || first.headers["X-RateLimit-Limit"] != "1" {
		t.Errorf("first: %d %v", first.status, first.headers)
	}
	second := v2.invoke(t, g, user)
	if second.status != 429 || !strings.Contains(second.body, "user limit 1/m:1") {
		t.Errorf("second: %d %s", second.status, second.body)
	}
	anon := fixture(t, "function-url.json")
	for i := range 3 {
		if a := v2.invoke(t, g, anon); a.status != 200 || a.headers["RateLimit-Policy"] != `"ip";q=100;w=60` {
			t.Errorf("anonymous request %d: %d %v", i, a.status, a.headers)
		}
	}
}

// TestTrustedProxies reads the client behind a trusted proxy from X-Forwarded-For.
func TestTrustedProxies(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	proxies, err := clientip.ParseProxies("198.51.100.0/24")
	if err != nil {
		t.Fatal(err)
	}
	g := newGuard(t, gw.URL, ratelimit.Options{}, limit.Options{Proxies: proxies}, limit.PerIP(perMinute))
	e := decode[events.ALBTargetGroupRequest](t, fixture(t, "alb.json"))
	r := limit.RequestFromALB(&e)
	g.Check(context.Background(), r)
	if want := netip.MustParseAddr("192.0.2.203"); r.ClientIP != want {
		t.Errorf("client behind a trusted proxy: %v, want %v", r.ClientIP, want)
	}
}

// TestLimiterDown checks both failure policies when the gateway cannot be reached.
func TestLimiterDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	raw := fixture(t, "apigw-http.json")
	v2 := eventTypes()["v2"]

	open := newGuard(t, url, ratelimit.Options{}, limit.Options{}, limit.PerIP(perMinute))
	if a := v2.invoke(t, open, raw); a.status != 200 || len(rateLimitHeaders(a)) > 0 {
		t.Errorf("fail-open: %d %v, want the handler's 200 without rate-limit headers", a.status, a.headers)
	}
	closed := newGuard(t, url, ratelimit.Options{FailClosed: true}, limit.Options{}, limit.PerIP(perMinute))
	if a := v2.invoke(t, closed, raw); a.status != 503 || a.body != `{"error":"ERR rate limiter unavailable"}` || len(rateLimitHeaders(a)) > 0 {
		t.Errorf("fail-closed: %d %v %s, want 503 without rate-limit headers", a.status, a.headers, a.body)
	}
}

// TestHandlerError passes the handler's error through, untouched.
func TestHandlerError(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	g := newGuard(t, gw.URL, ratelimit.Options{}, limit.Options{}, limit.PerIP(perMinute))
	boom := errors.New("boom")
	h := limit.APIGatewayV2HTTP(g, func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return events.APIGatewayV2HTTPResponse{}, boom
	})
	if _, err := h(context.Background(), decode[events.APIGatewayV2HTTPRequest](t, fixture(t, "apigw-http.json"))); err != boom {
		t.Errorf("err = %v, want the handler's", err)
	}
}

// TestNoSourceIP leaves events without a source IP (console test events) unlimited.
func TestNoSourceIP(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	g := newGuard(t, gw.URL, ratelimit.Options{}, limit.Options{}, limit.PerIP(perMinute))
	for range 3 {
		if a := eventTypes()["v2"].invoke(t, g, []byte(`{"version":"2.0","rawPath":"/"}`)); a.status != 200 || a.headers["RateLimit"] != "" {
			t.Errorf("event without source IP: %d %v", a.status, a.headers)
		}
	}
}

// refusedGuard returns a Guard whose limiter reaches the gateway at url with a token it does
// not accept, logging to logs.
func refusedGuard(t *testing.T, url string, opts limit.Options, logs *redistest.LogBuffer) *limit.Guard {
	t.Helper()
	c, err := rest.New(rest.Options{URL: url, Token: "not-the-gateway-token-0123456789", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	// The limiter logs to the same place: its fail-open line must not contradict the Guard's.
	return limit.New(limit.NewLimiter(c, ratelimit.Options{Logger: opts.Logger}), opts, limit.PerIP(perMinute))
}

// rateLimitHeaders returns the names of a's rate-limit headers.
func rateLimitHeaders(a answer) []string {
	var names []string
	for k := range a.headers {
		if strings.HasPrefix(k, "X-RateLimit-") || strings.HasPrefix(k, "RateLimit") {
			names = append(names, k)
		}
	}
	return names
}

// TestWrongToken checks that a gateway refusing the limiter's token denies by default, with
// an error line naming the status and the refusal counted, and allows with FailOpen.
func TestWrongToken(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	raw := fixture(t, "apigw-http.json")
	v2 := eventTypes()["v2"]

	var logs redistest.LogBuffer
	g := refusedGuard(t, gw.URL, limit.Options{}, &logs)
	a := v2.invoke(t, g, raw)
	if a.status != 503 || a.headers["X-Handler"] == "ran" || !strings.Contains(a.body, "misconfigured") {
		t.Errorf("wrong token: %d %v %s, want 503 without running the handler", a.status, a.headers, a.body)
	}
	if h := rateLimitHeaders(a); len(h) > 0 {
		t.Errorf("wrong token: rate-limit headers %v for a decision not made", h)
	}
	if l := logs.String(); strings.Count(l, "\n") != 1 || !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "the gateway refused the limiter's token: 401") || !strings.Contains(l, "denying") {
		t.Errorf("log, want one error line:\n%s", l)
	}
	if n := g.Refused(); n != 1 {
		t.Errorf("Refused() = %d, want 1", n)
	}

	var openLogs redistest.LogBuffer
	open := refusedGuard(t, gw.URL, limit.Options{FailOpen: true}, &openLogs)
	a = v2.invoke(t, open, raw)
	if a.status != 200 || a.headers["X-Handler"] != "ran" {
		t.Errorf("FailOpen: %d %v, want the handler's 200", a.status, a.headers)
	}
	if h := rateLimitHeaders(a); len(h) > 0 {
		t.Errorf("FailOpen: rate-limit headers %v for a decision not made", h)
	}
	if l := openLogs.String(); !strings.Contains(l, "the gateway refused the limiter's token: 401") || !strings.Contains(l, "allowing") {
		t.Errorf("FailOpen log:\n%s", l)
	}
	if n := open.Refused(); n != 1 {
		t.Errorf("FailOpen: Refused() = %d, want 1", n)
	}
}
