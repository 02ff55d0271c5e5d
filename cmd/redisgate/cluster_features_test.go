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

// TestClusterFeaturesThroughHTTP serves a Cluster database (3 shards × 1 replica) with the read
// cache, sync tokens and a quota whose state lives on a second cluster, through the binary:
// a write made straight on a key's primary reaches cached reads; a write's sync token names its
// shard's primary and a read carrying it sees the write; the quota holds with its state on the
// limiter cluster and none on the tenants'; a limiter cluster that is the database's is refused.
func TestClusterFeaturesThroughHTTP(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 1)
	lc := redistest.StartCluster(t, 3, 0)
	token := "cluster-features-token-0123"

	var stderr strings.Builder
	args := []string{"--listen", "127.0.0.1:0", "--cluster", rc.Seeds(), "--token", token, "--quota-daily", "5", "--limit-cluster", rc.Primaries[2].Addr}
	if code := run(t.Context(), args, testEnv(nil), &stderr, &stderr); code == 0 || !strings.Contains(stderr.String(), "serves database") {
		t.Errorf("limiter state on the database's cluster: exit %d, %q; want a refusal", code, stderr.String())
	}

	url, _ := startRun(t, "redisgate listening on", "--listen", "127.0.0.1:0", "--cluster", rc.Seeds(), "--token", token,
		"--cache=true", "--quota-daily", "300", "--limit-cluster", lc.Seeds())
	do := func(method, path, body, syncToken string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest(method, url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if syncToken != "" {
			req.Header.Set("Upstash-Sync-Token", syncToken)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), res.Header.Get("Upstash-Sync-Token")
	}

	// The read cache: filled, then a write straight on the key's primary reaches it.
	if code, body, _ := do("POST", "/", `["SET","k","v1"]`, ""); code != 200 || body != `{"result":"OK"}` {
		t.Fatalf("SET: %d %s", code, body)
	}
	for range 2 {
		if code, body, _ := do("GET", "/get/k", "", ""); code != 200 || body != `{"result":"v1"}` {
			t.Fatalf("GET: %d %s", code, body)
		}
	}
	written := false
	for _, p := range rc.Primaries {
		if _, err := p.Do("SET", "k", "v2"); err == nil {
			written = true
		}
	}
	if !written {
		t.Fatal("no primary took SET k")
	}
	redistest.WaitFor(t, 2*time.Second, func() bool {
		_, body, _ := do("GET", "/get/k", "", "")
		return body == `{"result":"v2"}`
	}, "the cached read to see a write made straight on the primary")

	// Sync tokens: a write's names its shard; a read with it sees the write.
	for i := 1; i <= 10; i++ {
		code, body, tok := do("POST", "/", `["INCR","n"]`, "")
		if code != 200 || body != fmt.Sprintf(`{"result":%d}`, i) || strings.IndexByte(tok, '-') != 40 || strings.HasPrefix(tok, strings.Repeat("0", 40)) {
			t.Fatalf("INCR: %d %s, token %q", code, body, tok)
		}
		if code, body, _ := do("GET", "/get/n", "", tok); code != 200 || body != fmt.Sprintf(`{"result":"%d"}`, i) {
			t.Fatalf("GET n with the INCR's token: %d %s, want %d", code, body, i)
		}
	}

	// Forged and foreign tokens are answered like any read, from the primary when they name no
	// current shard position.
	for _, tok := range []string{"x", strings.Repeat("f", 40) + "-9223372036854775807-1", strings.Repeat("0", 40) + "-0-0",
		strings.Repeat("a", 40) + "--1"} {
		if code, body, _ := do("GET", "/get/n", "", tok); code != 200 || body != `{"result":"10"}` {
			t.Errorf("GET n with the token %q: %d %s", tok, code, body)
		}
	}
	if code, _, _ := do("GET", "/get/n", "", strings.Repeat("9", 8000)); code != 431 {
		t.Errorf("GET n with a token of 8,000 bytes: %d, want 431", code)
	}

	// The quota: 300 commands a day, counted on the limiter cluster.
	served := 0
	for range 400 {
		if code, _, _ := do("GET", "/get/k", "", ""); code == 429 {
			break
		}
		served++
	}
	if served >= 300 {
		t.Errorf("the daily quota of 300 let %d more requests through", served)
	}
	keys := 0
	for _, p := range lc.Primaries {
		keys += int(p.MustDo("DBSIZE").(int64))
	}
	if keys == 0 {
		t.Error("no limiter key on the limiter cluster")
	}
	for _, p := range rc.Primaries {
		if v := p.MustDo("KEYS", "redisgate:rl:*").([]any); len(v) > 0 {
			t.Errorf("limiter keys on the database's cluster: %v", v)
		}
	}
}
