package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redisgate/redisgate/internal/redistest"
)

// clusterToken is the token of the gateways the Cluster tests start.
const clusterToken = "cluster-load-token-0123456789"

// httpClient is a keep-alive HTTP client for many concurrent requests to one gateway, whose
// connections close when the test ends.
func httpClient(t *testing.T, conns int) *http.Client {
	c := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns}}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// postC sends body to url+path with the cluster token and returns the status and body; a
// transport error is status 0 with the error as body.
func postC(c *http.Client, url, path, body string) (int, string) {
	return postToken(c, url, path, clusterToken, body)
}

// postToken is postC with another token.
func postToken(c *http.Client, url, path, token, body string) (int, string) {
	req, _ := http.NewRequest("POST", url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// commandCalls returns the calls of each command INFO commandstats lists on s, by lower-case name.
func commandCalls(t *testing.T, s *redistest.Server) map[string]int {
	t.Helper()
	v, err := s.Do("INFO", "commandstats")
	if err != nil {
		t.Fatalf("INFO commandstats on %s: %v", s.Addr, err)
	}
	calls := map[string]int{}
	for _, line := range strings.Split(fmt.Sprint(v), "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok {
			continue
		}
		n, _ := strconv.Atoi(strings.SplitN(rest, ",", 2)[0])
		calls[strings.TrimPrefix(name, "cmdstat_")] = n
	}
	return calls
}

// TestClusterFailoverHTTP kills -9 the primary of one shard (3 shards, two replicas each, so
// that the promoted one still has a replica to acknowledge; cluster-node-timeout 1 s) under 5,000 strong INCRs through the gateway (--consistency
// strong: each write is acknowledged by its shard's replica, WAIT 1 on the primary's
// connection) to a key of that shard, interleaved with INCRs to a key of another shard: every
// refusal of the dead shard's writes is a JSON 502/503, they are refused for at most the node
// timeout + 3 s, the other shard's requests never fail (counted), and no acknowledged INCR is
// missing from the promoted replica.
func TestClusterFailoverHTTP(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 2)
	url, _ := startRun(t, "redisgate listening on", "--listen", "127.0.0.1:0", "--cluster", rc.Seeds(), "--token", clusterToken,
		"--consistency", "strong", "--command-timeout", "3s", "--admin-listen", "")
	c := httpClient(t, 4)
	// "a" (slot 15495) is the third primary's, "b" (slot 3300) the first's.
	incr := func(key string) (int, string) { return postC(c, url, "/", `["INCR","`+key+`"]`) }
	waitBefore := commandCalls(t, rc.Primaries[0])["wait"]

	acked := map[string]int{}
	var otherErrs, refusals int
	statuses := map[int]int{}
	var downFrom, downTo time.Time
	killed, afterUp := false, 0
	start := time.Now()
	for n := 0; (n < 5000 || afterUp < 500) && time.Since(start) < 60*time.Second; n++ {
		if n == 1000 {
			rc.Primaries[2].Kill()
			killed = true
		}
		if code, body := incr("b"); code == 200 && strings.HasPrefix(body, `{"result":`) {
			acked["b"]++
		} else if otherErrs++; otherErrs <= 3 {
			t.Logf("b: %d %s", code, body)
		}
		code, body := incr("a")
		switch {
		case code == 200:
			acked["a"]++
			if !downFrom.IsZero() && downTo.IsZero() {
				downTo = time.Now()
			}
			if !downTo.IsZero() {
				afterUp++
			}
		case !killed:
			t.Fatalf("a before the kill: %d %s", code, body)
		case !downTo.IsZero():
			t.Errorf("a refused again after the failover: %d %s", code, body)
		default:
			if downFrom.IsZero() {
				downFrom = time.Now()
				t.Logf("a after the kill: %d %s", code, body)
			}
			refusals++
			statuses[code]++
			// 502/503: the shard cannot take writes; 504 "not acknowledged": the new primary
			// took the write before its remaining replica followed it (not counted as
			// acknowledged: its fate is unknown).
			var e struct{ Error string }
			unacked := code == 504 && strings.Contains(body, "not acknowledged by a replica")
			if (code != 502 && code != 503 && !unacked) || json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
				t.Errorf("a refused with %d %q, want a JSON 502/503 {\"error\":…}", code, body)
			}
		}
	}
	if downFrom.IsZero() || downTo.IsZero() {
		t.Fatalf("the dead shard's writes: refused from %v, back at %v", downFrom, downTo)
	}
	gap := downTo.Sub(downFrom)
	t.Logf("writes to the killed shard refused for %v (%d refusals by status: %v; node timeout %v); %d + %d strong INCRs acknowledged; %d failures on the other shard",
		gap, refusals, statuses, redistest.ClusterNodeTimeout, acked["a"], acked["b"], otherErrs)
	if gap > redistest.ClusterNodeTimeout+3*time.Second {
		t.Errorf("writes refused for %v, more than node timeout + 3 s", gap)
	}
	if otherErrs != 0 {
		t.Errorf("%d failures on the shard that did not fail", otherErrs)
	}
	// Strong writes went through WAIT on the primary's connection.
	if w := commandCalls(t, rc.Primaries[0])["wait"] - waitBefore; w < acked["b"]/2 {
		t.Errorf("%d WAITs on the first primary for %d strong INCRs: strong writes are not acknowledged by a replica", w, acked["b"])
	}
	var promoted *redistest.Server
	for _, r := range rc.Replicas[2] {
		if v, _ := r.Do("ROLE"); fmt.Sprint(v.([]any)[0]) == "master" {
			promoted = r
		}
	}
	if promoted == nil {
		t.Fatal("no replica of the killed primary was promoted")
	}
	if v, err := promoted.Do("GET", "a"); err != nil || !atLeast(v, acked["a"]) {
		t.Errorf("a on the promoted replica: %v %v, want at least the %d acknowledged", v, err, acked["a"])
	}
	if code, body := postC(c, url, "/", `["GET","b"]`); code != 200 || body != fmt.Sprintf(`{"result":"%d"}`, acked["b"]) {
		t.Errorf("b through the gateway: %d %s, want %d", code, body, acked["b"])
	}
}

// atLeast reports whether the string v is an integer of at least n (an INCR whose answer was
// lost with the connection may have run).
func atLeast(v any, n int) bool {
	s, _ := v.(string)
	i, err := strconv.Atoi(s)
	return err == nil && i >= n
}

// TestClusterReshardAndScaleOutHTTP runs 50 HTTP clients with a bounded mixed load (GET, SET,
// INCR, MGET over slots, /pipeline of all four) through the gateway while 1,000 slots holding
// keys move from the first primary to the second, then a fourth primary joins the running
// cluster and 300 slots move to it: no client sees an error or a wrong answer, every
// acknowledged INCR is in the final counts, and the new primary, unknown when the gateway
// started, receives the gateway's commands without a restart.
func TestClusterReshardAndScaleOutHTTP(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 0)
	url, _ := startRun(t, "redisgate listening on", "--listen", "127.0.0.1:0", "--cluster", rc.Seeds(), "--token", clusterToken,
		"--command-timeout", "10s", "--max-conns-per-ip", "0", "--admin-listen", "")
	const clients, keys = 50, 3000
	c := httpClient(t, clients)
	var fill strings.Builder
	fill.WriteString("[")
	for i := range keys {
		if i > 0 {
			fill.WriteString(",")
		}
		fmt.Fprintf(&fill, `["SET","fill:%d","%d"]`, i, i)
	}
	fill.WriteString("]")
	if code, body := postC(c, url, "/pipeline", fill.String()); code != 200 || strings.Count(body, `"OK"`) != keys {
		t.Fatalf("fill: %d %.200s", code, body)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	var requests atomic.Int64
	incrs := make([]int, clients)
	fail := func(s string) {
		mu.Lock()
		bad = append(bad, s)
		mu.Unlock()
	}
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				time.Sleep(5 * time.Millisecond) // bounded: at most ~200 requests/s per client
				i := (w*7919 + n*31) % keys
				j, k := (i+1)%keys, (i+2)%keys
				val := func(i int) string { return fmt.Sprintf(`"%d"`, i) }
				var path, body, want string
				countsIncr := false
				switch n % 5 {
				case 0:
					path, body, want = "/", fmt.Sprintf(`["GET","fill:%d"]`, i), `{"result":`+val(i)+`}`
				case 1:
					path, body, want = "/", fmt.Sprintf(`["SET","own:%d:%d","x"]`, w, n%50), `{"result":"OK"}`
				case 2:
					path, body, want = "/", fmt.Sprintf(`["INCR","counter:%d"]`, w), `{"result":`
					countsIncr = true
				case 3:
					path, body = "/", fmt.Sprintf(`["MGET","fill:%d","fill:%d","fill:%d"]`, i, j, k)
					want = `{"result":[` + val(i) + "," + val(j) + "," + val(k) + `]}`
				default:
					path = "/pipeline"
					body = fmt.Sprintf(`[["GET","fill:%d"],["INCR","counter:%d"],["MGET","fill:%d","fill:%d"],["SET","own:%d:%d","y"]]`, i, w, j, k, w, n%50)
					want = `[{"result":` + val(i) + `},{"result":`
					countsIncr = true
				}
				code, got := postC(c, url, path, body)
				requests.Add(1)
				ok := code == 200 && strings.HasPrefix(got, want)
				if ok && path == "/pipeline" {
					ok = strings.HasSuffix(got, `},{"result":[`+val(j)+","+val(k)+`]},{"result":"OK"}]`)
				}
				if ok && countsIncr {
					incrs[w]++
				}
				if !ok {
					fail(fmt.Sprintf("%s %s: %d %s", path, body, code, got))
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	rc.MoveSlots(t, rc.Primaries[0], rc.Primaries[1], 0, 999)
	reshard := time.Since(start)
	before := requests.Load()
	fourth := rc.AddPrimary(t)
	start = time.Now()
	rc.MoveSlots(t, rc.Primaries[0], fourth, 1000, 1299)
	scaleOut := time.Since(start)
	time.Sleep(time.Second) // the load goes on over the new map
	close(stop)
	wg.Wait()

	total := 0
	for _, n := range incrs {
		total += n
	}
	t.Logf("1,000 slots moved between primaries in %v, then 300 to a fourth primary in %v, under %d HTTP clients: %d requests (%d after the fourth joined), %d INCRs acknowledged",
		reshard, scaleOut, clients, requests.Load(), requests.Load()-before, total)
	if len(bad) > 0 {
		t.Fatalf("%d requests failed or were answered wrongly, e.g. %s", len(bad), bad[0])
	}
	for w := range clients {
		code, body := postC(c, url, "/", fmt.Sprintf(`["GET","counter:%d"]`, w))
		if want := fmt.Sprintf(`{"result":"%d"}`, incrs[w]); incrs[w] > 0 && (code != 200 || body != want) {
			t.Errorf("counter:%d: %d %s, %d INCRs acknowledged", w, code, body, incrs[w])
		}
	}
	calls := commandCalls(t, fourth)
	if calls["get"]+calls["mget"]+calls["incr"]+calls["set"] == 0 {
		t.Errorf("the fourth primary received no command of the gateway: %v", calls)
	}
	if v, _ := fourth.Do("DBSIZE"); v == int64(0) {
		t.Error("the fourth primary holds no key")
	}
	if code, body := postC(c, url, "/", `["DBSIZE"]`); code != 200 || !strings.HasPrefix(body, `{"result":`) {
		t.Errorf("DBSIZE over four primaries: %d %s", code, body)
	}
}
