package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redisgate/redisgate/internal/redistest"
)

// TestAdminRegions checks that /readyz and /metrics show each node of a replicated database
// with its region, measured latency and reads served, and the read routing counters
// (issue 20), with regions, the gateway's region and hedging given as flags.
func TestAdminRegions(t *testing.T) {
	leader := redistest.Start(t)
	replica := redistest.StartReplica(t, leader, "")
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	admin := fmt.Sprintf("127.0.0.1:%d", port)
	token := "admin-regions-token-0123456789"
	url, _ := startRun(t, "redisgate listening on", "--listen", "127.0.0.1:0", "--upstream", leader.URL(), "--replica", replica.URL(),
		"--regions", leader.Addr+"=us-east-1,"+replica.Addr+"=eu-west-3", "--region", "eu-west-3", "--hedge-after", "5ms",
		"--token", token, "--admin-listen", admin)
	fetch := func(path string) string {
		res, err := http.Get("http://" + admin + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	if code, body := get(t, url+"/set/k/v", token); code != 200 {
		t.Fatalf("set: %d %s", code, body)
	}
	redistest.WaitFor(t, 5*time.Second, func() bool {
		return strings.Contains(fetch("/readyz"), `"healthy":true,"lag_bytes":0`)
	}, "replica healthy and caught up")
	for range 20 {
		if code, body := get(t, url+"/get/k", token); code != 200 {
			t.Fatalf("get: %d %s", code, body)
		}
	}
	var ready struct {
		Databases []struct {
			LeaderRegion    string  `json:"leader_region"`
			LeaderLatencyMS float64 `json:"leader_latency_ms"`
			LeaderReads     int64   `json:"leader_reads"`
			Replicas        []struct {
				Addr      string  `json:"addr"`
				Region    string  `json:"region"`
				LatencyMS float64 `json:"latency_ms"`
				Reads     int64   `json:"reads"`
			} `json:"replicas"`
			Routing map[string]int64 `json:"routing"`
		} `json:"databases"`
	}
	body := fetch("/readyz")
	if err := json.Unmarshal([]byte(body), &ready); err != nil || len(ready.Databases) != 1 || len(ready.Databases[0].Replicas) != 1 {
		t.Fatalf("/readyz: %v\n%s", err, body)
	}
	d := ready.Databases[0]
	r := d.Replicas[0]
	// Both nodes are on this host: the replica serves unless the probes' noise makes it
	// farther than the leader by more than 2 ms; either way each read is counted once.
	if d.LeaderRegion != "us-east-1" || d.LeaderLatencyMS <= 0 || r.Region != "eu-west-3" || r.LatencyMS <= 0 || r.Reads+d.LeaderReads < 20 {
		t.Errorf("/readyz: leader region %q latency %gms reads %d; replica %+v; want the regions given, latencies measured and the 20 reads counted\n%s",
			d.LeaderRegion, d.LeaderLatencyMS, d.LeaderReads, r, body)
	}
	if _, ok := d.Routing["hedges"]; !ok {
		t.Errorf("/readyz lacks the routing counters: %s", body)
	}
	m := fetch("/metrics")
	for _, re := range []string{
		`redisgate_node_latency_seconds\{database="default",node="` + regexp.QuoteMeta(replica.Addr) + `",region="eu-west-3",role="replica"\} [0-9.e-]+`,
		`redisgate_node_latency_seconds\{database="default",node="` + regexp.QuoteMeta(leader.Addr) + `",region="us-east-1",role="leader"\} [0-9.e-]+`,
		`redisgate_node_reads_total\{database="default",node="` + regexp.QuoteMeta(replica.Addr) + `",region="eu-west-3",role="replica"\} [0-9]+`,
		`redisgate_node_reads_total\{database="default",node="` + regexp.QuoteMeta(leader.Addr) + `",region="us-east-1",role="leader"\} [0-9]+`,
		`redisgate_read_routing_total\{database="default",event="hedge"\} [0-9]+`,
	} {
		if !regexp.MustCompile(re).MatchString(m) {
			t.Errorf("/metrics lacks %s:\n%s", re, m)
		}
	}
}

// TestSyncTokenAcrossGateways runs two gateway processes over one tier, as two regions would:
// a client writes through one and reads through the other with the Upstash-Sync-Token the
// first answered; the second's only replica lags 100 ms. No read with the token is stale;
// without it some are (the lag is real).
func TestSyncTokenAcrossGateways(t *testing.T) {
	leader := redistest.Start(t)
	near := redistest.StartReplica(t, leader, "")
	lagging := redistest.StartReplica(t, leader, redistest.StartDelayProxy(t, leader.Addr, 100*time.Millisecond).Addr)
	token := "two-gateways-token-0123456789"
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	admin := fmt.Sprintf("127.0.0.1:%d", port)
	gateway := func(replica *redistest.Server, region, admin string) string {
		url, _ := startRun(t, "redisgate listening on", "--listen", "127.0.0.1:0", "--admin-listen", admin, "--upstream", leader.URL(),
			"--replica", replica.URL(), "--regions", replica.Addr+"="+region, "--region", region, "--token", token)
		return url
	}
	a, b := gateway(near, "a", ""), gateway(lagging, "b", admin)
	do := func(url, tok string) (string, string) {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if tok != "" {
			req.Header.Set("Upstash-Sync-Token", tok)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Fatalf("%s: %d %s", url, res.StatusCode, body)
		}
		return string(body), res.Header.Get("Upstash-Sync-Token")
	}
	// Let gateway b see its replica healthy, so that its reads without a token go there.
	redistest.WaitFor(t, 5*time.Second, func() bool {
		leader.MustDo("SET", "probe", "x")
		time.Sleep(150 * time.Millisecond)
		v, _ := do(b+"/get/probe", "")
		return v == `{"result":"x"}`
	}, "gateway b reading from its replica")
	stale, staleWithout := 0, 0
	var took time.Duration
	const pairs = 200
	for i := range pairs {
		want := `{"result":"` + strconv.Itoa(i) + `"}`
		_, tok := do(a+"/set/k/"+strconv.Itoa(i), "")
		if tok == "" {
			t.Fatal("a write through gateway a answered no sync token")
		}
		if i%4 == 3 {
			time.Sleep(120 * time.Millisecond) // the replica has the write; b's last probe may not know it yet
		}
		start := time.Now()
		if got, _ := do(b+"/get/k", tok); got != want {
			stale++
		}
		took += time.Since(start)
		if got, _ := do(b+"/get/k", ""); got != want {
			staleWithout++
		}
	}
	var ready struct {
		Databases []struct {
			Routing map[string]int64 `json:"routing"`
		} `json:"databases"`
	}
	res, err := http.Get("http://" + admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(res.Body).Decode(&ready)
	res.Body.Close()
	if len(ready.Databases) != 1 {
		t.Fatalf("/readyz of gateway b: %+v", ready)
	}
	r := ready.Databases[0].Routing
	t.Logf("%d pairs across gateways: %d stale with the token (mean read %v), %d stale without; gateway b's ROLE checks %d, %d short",
		pairs, stale, took/pairs, staleWithout, r["token_checks"], r["token_check_misses"])
	// A check that found the replica caught up served the read there: ROLE runs on the
	// confined connections of the tenant (isolation acl) too.
	if r["token_checks"] <= r["token_check_misses"] {
		t.Errorf("no ROLE check found the replica caught up (%d checks, %d short)", r["token_checks"], r["token_check_misses"])
	}
	if stale != 0 {
		t.Errorf("%d of %d reads through gateway b missed the write their token (from gateway a) names", stale, pairs)
	}
	if staleWithout == 0 {
		t.Errorf("no read without the token was stale: the test did not exercise the lagging replica")
	}
}
