package main

import (
	"fmt"
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
	url, _ := startRun(t, "redisgate listening on", "--listen", "127.0.0.1:0", "--upstream", rs.URL(), "--token", token,
		"--cache=true", "--cache-max-bytes", "1MiB", "--edge-max-age", "5s", "--log-level", "error")
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
	rs.MustDo("SET", "k", "v2") // straight to Redis
	redistest.WaitFor(t, time.Second, func() bool { _, body := get(t, url+"/get/k", token); return body == `{"result":"v2"}` }, "invalidation")

	res, err := http.Get(url + "/get/k?_token=" + token)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if cc := res.Header.Get("Cache-Control"); cc != "public, max-age=5" || res.Header.Get("ETag") == "" {
		t.Errorf("edge headers: Cache-Control %q, ETag %q", cc, res.Header.Get("ETag"))
	}
}
