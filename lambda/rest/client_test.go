package rest_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/redisgate/redisgate/internal/gatewaytest"
	"github.com/redisgate/redisgate/lambda/rest"
	"github.com/redisgate/redisgate/ratelimit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The in-process gateway is fasthttp: its idle-worker cleaner and Date refresher outlive a test a little.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
	)
}

var quiet = slog.New(slog.DiscardHandler)

// Client must be usable as a limiter's store.
var _ ratelimit.Store = (*rest.Client)(nil)

// newClient returns a client of url that is closed when the test ends.
func newClient(t testing.TB, url string, o rest.Options) *rest.Client {
	t.Helper()
	o.URL = url
	if o.Token == "" {
		o.Token = gatewaytest.Token
	}
	o.Logger = quiet
	c, err := rest.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestCommands(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	c := newClient(t, gw.URL, rest.Options{})
	ctx := ctxT(t)

	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := c.Get(ctx, "missing"); v != "" || ok || err != nil {
		t.Errorf("Get(missing) = %q, %v, %v; want not found", v, ok, err)
	}
	if ok, err := c.Set(ctx, "k", "v1", rest.SetOptions{TTL: 60 * time.Second}); !ok || err != nil {
		t.Fatalf("Set = %v, %v", ok, err)
	}
	if v, ok, err := c.Get(ctx, "k"); v != "v1" || !ok || err != nil {
		t.Errorf("Get = %q, %v, %v; want v1", v, ok, err)
	}
	if ttl, err := c.TTL(ctx, "k"); err != nil || ttl <= 59*time.Second || ttl > 60*time.Second {
		t.Errorf("TTL = %v, %v; want about 60s", ttl, err)
	}
	if ok, err := c.Set(ctx, "k", "v2", rest.SetOptions{NX: true}); ok || err != nil {
		t.Errorf("Set NX on an existing key = %v, %v; want not set", ok, err)
	}
	if ok, err := c.Set(ctx, "k", "v3", rest.SetOptions{XX: true, KeepTTL: true}); !ok || err != nil {
		t.Errorf("Set XX KEEPTTL = %v, %v", ok, err)
	}
	if ok, err := c.Expire(ctx, "k", 1500*time.Millisecond); !ok || err != nil {
		t.Errorf("Expire = %v, %v", ok, err)
	}
	if ttl, err := c.TTL(ctx, "k"); err != nil || ttl <= time.Second || ttl > 1500*time.Millisecond {
		t.Errorf("TTL after PEXPIRE = %v, %v; want about 1.5s", ttl, err)
	}
	if ttl, err := c.TTL(ctx, "missing"); ttl != -2 || err != nil {
		t.Errorf("TTL(missing) = %v, %v; want -2", ttl, err)
	}
	if n, err := c.Incr(ctx, "n"); n != 1 || err != nil {
		t.Errorf("Incr = %d, %v", n, err)
	}
	if n, err := c.IncrBy(ctx, "n", 41); n != 42 || err != nil {
		t.Errorf("IncrBy = %d, %v", n, err)
	}
	if n, err := c.HSet(ctx, "h", "a", "1", "b", 2); n != 2 || err != nil {
		t.Errorf("HSet = %d, %v", n, err)
	}
	if v, ok, err := c.HGet(ctx, "h", "b"); v != "2" || !ok || err != nil {
		t.Errorf("HGet = %q, %v, %v", v, ok, err)
	}
	if _, ok, err := c.HGet(ctx, "h", "zz"); ok || err != nil {
		t.Errorf("HGet(missing field) = %v, %v", ok, err)
	}
	if m, err := c.HGetAll(ctx, "h"); err != nil || len(m) != 2 || m["a"] != "1" || m["b"] != "2" {
		t.Errorf("HGetAll = %v, %v", m, err)
	}
	if n, err := c.Exists(ctx, "k", "n", "h", "missing"); n != 3 || err != nil {
		t.Errorf("Exists = %d, %v; want 3", n, err)
	}
	if n, err := c.Del(ctx, "k", "n", "missing"); n != 2 || err != nil {
		t.Errorf("Del = %d, %v; want 2", n, err)
	}
	// Nested arrays decode from base64 at every depth; integers and nil stay as they are.
	c.Do(ctx, "RPUSH", "l", "x", "OK", "")
	v, err := c.Do(ctx, "EVAL", "return {KEYS[1], 7, redis.call('LRANGE', KEYS[1], 0, -1), false}", 1, "l")
	want := []any{"l", int64(7), []any{"x", "OK", ""}, nil}
	if err != nil || fmt.Sprint(v) != fmt.Sprint(want) {
		t.Errorf("nested reply = %#v, %v; want %#v", v, err, want)
	}
}

// TestBinary sends and reads back every byte value, as key and as value.
func TestBinary(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	c := newClient(t, gw.URL, rest.Options{})
	ctx := ctxT(t)
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	key := "bin:\xff/\x00 %2F+?"
	for _, tt := range []struct {
		name string
		args []any
	}{
		{"value last", []any{"SET", key, all}},
		{"value inside", []any{"SET", key, all, "EX", 100}},
		{"empty last", []any{"SET", key, ""}},
	} {
		if _, err := c.Do(ctx, tt.args...); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		want := fmt.Sprintf("%s", tt.args[2])
		if got, ok, err := c.Get(ctx, key); got != want || !ok || err != nil {
			t.Errorf("%s: Get = %q, %v, %v; want %q", tt.name, got, ok, err, want)
		}
	}
	if _, err := c.Pipeline(ctx, rest.Cmd{"SET", "k", all}); !errors.Is(err, rest.ErrBinaryArg) {
		t.Errorf("binary argument in a pipeline: %v, want ErrBinaryArg", err)
	}
}

func TestPipelineAndMultiExec(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	c := newClient(t, gw.URL, rest.Options{})
	ctx := ctxT(t)

	res, err := c.Pipeline(ctx, rest.Cmd{"SET", "s", "text"}, rest.Cmd{"INCR", "s"}, rest.Cmd{"GET", "s"}, rest.Cmd{"GET", "none"})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Value != "OK" || res[2].Value != "text" || res[3].Value != nil || res[3].Err != nil {
		t.Errorf("pipeline = %+v", res)
	}
	var e *rest.Error
	if !errors.As(res[1].Err, &e) || e.Status != 200 || e.Prefix() != "ERR" || !strings.Contains(e.Message, "not an integer") {
		t.Errorf("pipeline entry error = %#v", res[1].Err)
	}

	res, err = c.MultiExec(ctx, rest.Cmd{"INCR", "m"}, rest.Cmd{"INCR", "m"}, rest.Cmd{"GET", "m"})
	if err != nil || len(res) != 3 || res[1].Value != int64(2) || res[2].Value != "2" {
		t.Errorf("multi-exec = %+v, %v", res, err)
	}
	// A transaction Redis discards is one error for the whole request.
	_, err = c.MultiExec(ctx, rest.Cmd{"INCR", "m"}, rest.Cmd{"NOSUCHCOMMAND"})
	if !errors.As(err, &e) || e.Status != 400 || !strings.Contains(e.Message, "EXECABORT") {
		t.Errorf("discarded transaction: %v, want 400 EXECABORT", err)
	}
	if v, _, _ := c.Get(ctx, "m"); v != "2" {
		t.Errorf("discarded transaction ran: m = %q", v)
	}
}

// TestKeepAlive proves that one connection serves 100 calls, as 100 invocations of a warm container.
func TestKeepAlive(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	c := newClient(t, gw.URL, rest.Options{})
	ctx := ctxT(t)
	for i := range 100 {
		if _, err := c.Incr(ctx, "calls"); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if n := gw.Accepted(); n != 1 {
		t.Errorf("gateway accepted %d connections for 100 calls, want 1", n)
	}
}

// TestErrors checks that each failure the gateway answers becomes an *Error with its status and message.
func TestErrors(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	limited := gatewaytest.Start(t, gatewaytest.Options{IPRate: ratelimit.Rate{Count: 1, Period: time.Minute, Burst: 1}})
	down := gatewaytest.Start(t, gatewaytest.Options{})
	down.Redis.Kill()
	frozen := gatewaytest.Start(t, gatewaytest.Options{CommandTimeout: 200 * time.Millisecond})

	ctx := ctxT(t)
	newClient(t, gw.URL, rest.Options{}).Set(ctx, "str", "x", rest.SetOptions{})
	newClient(t, limited.URL, rest.Options{}).Ping(ctx) // spends the only token

	tests := []struct {
		name       string
		url, token string
		before     func()
		args       []any
		wantStatus int
		wantPrefix string
		wantRetry  bool // Retry-After present
	}{
		{name: "wrong token", url: gw.URL, token: "not-the-token-at-all", args: []any{"GET", "k"}, wantStatus: 401, wantPrefix: "WRONGPASS"},
		{name: "redis error", url: gw.URL, args: []any{"INCR", "str"}, wantStatus: 400, wantPrefix: "ERR"},
		{name: "wrong type", url: gw.URL, args: []any{"HGET", "str", "f"}, wantStatus: 400, wantPrefix: "WRONGTYPE"},
		{name: "refused command", url: gw.URL, args: []any{"WATCH", "k"}, wantStatus: 400, wantPrefix: "ERR"},
		{name: "rate limited", url: limited.URL, args: []any{"GET", "k"}, wantStatus: 429, wantPrefix: "ERR", wantRetry: true},
		{name: "redis down", url: down.URL, args: []any{"SET", "k", "v"}, wantStatus: 503},
		{name: "redis frozen", url: frozen.URL, before: frozen.Redis.Freeze, args: []any{"SET", "k", "v"}, wantStatus: 504},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != nil {
				tt.before()
			}
			c := newClient(t, tt.url, rest.Options{Token: tt.token, Retries: -1})
			_, err := c.Do(ctx, tt.args...)
			var e *rest.Error
			if !errors.As(err, &e) {
				t.Fatalf("Do = %v, want *rest.Error", err)
			}
			if e.Status != tt.wantStatus || e.Message == "" || (tt.wantPrefix != "" && e.Prefix() != tt.wantPrefix) {
				t.Errorf("error = %d %q, want %d %s…", e.Status, e.Message, tt.wantStatus, tt.wantPrefix)
			}
			if (e.RetryAfter > 0) != tt.wantRetry {
				t.Errorf("RetryAfter = %v, want present: %v", e.RetryAfter, tt.wantRetry)
			}
			if !strings.Contains(err.Error(), e.Message) {
				t.Errorf("error text %q lacks the gateway's message %q", err, e.Message)
			}
		})
	}
	frozen.Redis.Thaw()
}

func TestOptionsFromEnv(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		wantURL   string
		wantToken string
		wantErr   bool
	}{
		{"redisgate", map[string]string{"REDISGATE_URL": "http://gw:8079", "REDISGATE_TOKEN": "t1"}, "http://gw:8079", "t1", false},
		{"upstash", map[string]string{"UPSTASH_REDIS_REST_URL": "https://x.upstash.io", "UPSTASH_REDIS_REST_TOKEN": "t2"}, "https://x.upstash.io", "t2", false},
		{"redisgate wins", map[string]string{"REDISGATE_URL": "http://gw", "REDISGATE_TOKEN": "t1", "UPSTASH_REDIS_REST_URL": "https://u", "UPSTASH_REDIS_REST_TOKEN": "t2"}, "http://gw", "t1", false},
		{"no token", map[string]string{"REDISGATE_URL": "http://gw"}, "", "", true},
		{"nothing", map[string]string{}, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := rest.OptionsFromEnv(func(k string) string { return tt.env[k] })
			if (err != nil) != tt.wantErr || o.URL != tt.wantURL || o.Token != tt.wantToken {
				t.Errorf("OptionsFromEnv = %+v, %v", o, err)
			}
			if err != nil && !errors.Is(err, rest.ErrConfig) {
				t.Errorf("error %v is not ErrConfig", err)
			}
		})
	}
	for _, bad := range []string{"", "gw:8079", "ftp://gw", "http://"} {
		if _, err := rest.New(rest.Options{URL: bad, Token: "t"}); !errors.Is(err, rest.ErrConfig) {
			t.Errorf("New(URL %q) = %v, want ErrConfig", bad, err)
		}
	}
}

// TestStore runs a limiter whose state goes through the gateway: EVALSHA falls back to EVAL
// on a Redis that does not know the script, and decisions are exact.
func TestStore(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	c := newClient(t, gw.URL, rest.Options{})
	l := ratelimit.NewLimiter(c, ratelimit.Options{Lease: -1, Timeout: time.Second, Logger: quiet})
	ctx := ctxT(t)
	rate := ratelimit.Rate{Count: 3, Period: time.Minute, Burst: 3}
	for i := range 3 {
		if d := l.Allow(ctx, "t", "k", rate); !d.Allowed || d.Err != nil || d.Remaining != 2-i {
			t.Fatalf("request %d: %+v", i+1, d)
		}
		if i == 0 {
			c.Do(ctx, "SCRIPT", "FLUSH") // the next call meets NOSCRIPT again
		}
	}
	if d := l.Allow(ctx, "t", "k2", ratelimit.Rate{}); !d.Allowed {
		t.Errorf("zero rate denied: %+v", d)
	}
	d := l.Allow(ctx, "t", "k", rate)
	if d.Allowed || d.Err != nil || d.RetryAfter < 19*time.Second {
		t.Errorf("4th request: %+v, want denied for about 20s", d)
	}
	if _, err := c.Eval(ctx, "return {1, 'x'}", "0000000000000000000000000000000000000000", nil); !errors.Is(err, rest.ErrNotInteger) {
		t.Errorf("Eval of a script returning a string: %v", err)
	}
}

// ExampleNew shows the client as a Lambda function holds it: built once in init, used by every invocation.
func ExampleNew() {
	c, err := rest.FromEnv() // REDISGATE_URL, REDISGATE_TOKEN
	if err != nil {
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c.Set(ctx, "greeting", "hello", rest.SetOptions{TTL: time.Minute})
	v, _, _ := c.Get(ctx, "greeting")
	fmt.Println(v)
}
