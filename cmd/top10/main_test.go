package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/redisgate/redisgate/internal/gatewaytest"
	"github.com/redisgate/redisgate/lambda/lambdatest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
	)
}

var quiet = slog.New(slog.DiscardHandler)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "lambda", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newTestApp(t *testing.T, url string) *app {
	t.Helper()
	env := map[string]string{"REDISGATE_URL": url, "REDISGATE_TOKEN": gatewaytest.Token}
	a, err := newApp(func(k string) string { return env[k] }, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.c.Close)
	return a
}

func call(t *testing.T, a *app) answer {
	t.Helper()
	res, err := a.handle(context.Background(), events.APIGatewayV2HTTPRequest{})
	if err != nil || res.StatusCode != 200 || res.Headers["Content-Type"] != "application/json" {
		t.Fatalf("handle: %d %v %v", res.StatusCode, res.Headers, err)
	}
	var ans answer
	if err := json.Unmarshal([]byte(res.Body), &ans); err != nil {
		t.Fatalf("answer %s: %v", res.Body, err)
	}
	return ans
}

// TestCache computes once, caches with a 60 s expiry, then serves from the cache.
func TestCache(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	a := newTestApp(t, gw.URL)
	first := call(t, a)
	if first.Cached || len(first.Top10) != 10 || first.Latency.Compute <= 0 || first.Latency.CacheSet <= 0 || first.CacheError != "" {
		t.Errorf("first answer: %+v, want computed and cached", first)
	}
	rdb := redis.NewClient(&redis.Options{Addr: gw.Redis.Addr})
	defer rdb.Close()
	if ttl := rdb.TTL(context.Background(), cacheKey).Val(); ttl <= 58*time.Second || ttl > 60*time.Second {
		t.Errorf("cache TTL %v, want 60s", ttl)
	}
	second := call(t, newTestApp(t, gw.URL)) // another container
	if !second.Cached || second.Latency.Compute != 0 || !reflect.DeepEqual(second.board, first.board) {
		t.Errorf("second answer: %+v, want the cached board %+v", second, first.board)
	}
	if second.Latency.Total < second.Latency.CacheGet {
		t.Errorf("latency: total %v < cache_get %v", second.Latency.Total, second.Latency.CacheGet)
	}
}

// TestCacheDown still answers, computed, when Redis is down behind the gateway.
func TestCacheDown(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	gw.Redis.Kill()
	ans := call(t, newTestApp(t, gw.URL))
	if ans.Cached || len(ans.Top10) != 10 || ans.CacheError == "" {
		t.Errorf("answer with Redis down: %+v, want computed with cache_error", ans)
	}
}

// TestCompute checks the board against a full sort.
func TestCompute(t *testing.T) {
	const n = 5000
	all := make([]Entry, n)
	for i := range all {
		all[i] = Entry{Score: scoreOf(i)}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Score > all[j].Score })
	got := compute(n)
	if len(got) != 10 {
		t.Fatalf("%d entries", len(got))
	}
	for i, e := range got {
		if e.Rank != i+1 || e.Score != all[i].Score || scoreOf(playerIndex(t, e.Player)) != e.Score {
			t.Errorf("entry %d = %+v, want rank %d score %d", i, e, i+1, all[i].Score)
		}
	}
	if few := compute(3); len(few) != 3 || few[0].Rank != 1 || few[0].Score < few[2].Score {
		t.Errorf("compute(3) = %+v", few)
	}
}

func playerIndex(t *testing.T, name string) int {
	t.Helper()
	i, err := strconv.Atoi(strings.TrimPrefix(name, "player-"))
	if err != nil {
		t.Fatalf("player name %q", name)
	}
	return i
}

// TestBootstrapKeepAlive runs 100 invocations through the built bootstrap and the Lambda
// Runtime API: the container's one client reuses one TCP connection to the gateway for all.
func TestBootstrapKeepAlive(t *testing.T) {
	bin := lambdatest.Build(t, "github.com/redisgate/redisgate/cmd/top10")
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	rt := lambdatest.Start(t, bin, "REDISGATE_URL="+gw.URL, "REDISGATE_TOKEN="+gatewaytest.Token)
	event := fixture(t, "apigw-http.json")
	cached := 0
	for i := range 100 {
		res, err := rt.Invoke(event, 3*time.Second)
		if err != nil {
			t.Fatalf("invocation %d: %v", i, err)
		}
		var r events.APIGatewayV2HTTPResponse
		var ans answer
		if err := res.Decode(&r); err != nil || json.Unmarshal([]byte(r.Body), &ans) != nil || r.StatusCode != 200 {
			t.Fatalf("invocation %d: %d %s %v", i, r.StatusCode, r.Body, err)
		}
		if ans.Cached {
			cached++
		}
	}
	if cached != 99 {
		t.Errorf("%d of 100 answers from the cache, want 99", cached)
	}
	if n := gw.Accepted(); n != 1 {
		t.Errorf("gateway accepted %d connections over 100 invocations, want 1", n)
	}
	t.Logf("init (process start to first invocation request): %v", rt.InitDuration())
}
