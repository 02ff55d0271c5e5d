package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redisgate/redisgate/internal/redistest"
)

// TestCacheFlags runs the gateway with its read cache and edge caching on, against a real Redis.
func TestCacheFlags(t *testing.T) {
	rs := redistest.Start(t)
	const token = "cache-flags-token-0123456789"
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	admin := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	url, _ := startRun(t, "redisgate listening on", "--listen", "127.0.0.1:0", "--upstream", rs.URL(), "--token", token,
		"--cache=true", "--cache-max-bytes", "1MiB", "--edge-max-age", "5s", "--log-level", "error",
		"--admin-listen", fmt.Sprintf("127.0.0.1:%d", port))
	redistest.WaitFor(t, 5*time.Second, func() bool {
		list := fmt.Sprint(rs.MustDo("CLIENT", "LIST"))
		return strings.Contains(list, "name=redisgate-invalidate") && strings.Contains(list, "name=redisgate-cache")
	}, "cache connections")
	rs.MustDo("SET", "k", "v1")
	for range 3 {
		if code, body := get(t, url+"/get/k", token); code != 200 || body != `{"result":"v1"}` {
			t.Fatalf("%d %s", code, body)
		}
	}
	metrics := func() string {
		res, err := http.Get(admin)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	for _, want := range []string{
		`redisgate_cache_events_total{database="default",event="miss"} 1`,
		`redisgate_cache_events_total{database="default",event="hit"} 2`,
		`redisgate_cache_events_total{database="default",event="invalidation"} 0`,
		`redisgate_cache_bytes{database="default"} `,
	} {
		if m := metrics(); !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, m)
		}
	}
	rs.MustDo("SET", "k", "v2") // straight to Redis
	redistest.WaitFor(t, time.Second, func() bool { _, body := get(t, url+"/get/k", token); return body == `{"result":"v2"}` }, "invalidation")
	if m := metrics(); !strings.Contains(m, `redisgate_cache_events_total{database="default",event="invalidation"} 1`) {
		t.Errorf("/metrics after a direct write lacks one invalidation:\n%s", m)
	}

	res, err := http.Get(url + "/get/k?_token=" + token)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if cc := res.Header.Get("Cache-Control"); cc != "public, max-age=5" || res.Header.Get("ETag") == "" {
		t.Errorf("edge headers: Cache-Control %q, ETag %q", cc, res.Header.Get("ETag"))
	}
}
