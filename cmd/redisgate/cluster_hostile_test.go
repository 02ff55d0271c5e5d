package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redisgate/redisgate/internal/redistest"
)

// slotOwners returns, per primary of rc, the slot ranges CLUSTER NODES says each node holds,
// plus the cluster state: what a tenant must not be able to change.
func slotOwners(t *testing.T, rc *redistest.Cluster) string {
	t.Helper()
	var lines []string
	for _, n := range rc.Nodes() {
		v, err := n.Do("CLUSTER", "NODES")
		if err != nil {
			t.Fatalf("CLUSTER NODES on %s: %v", n.Addr, err)
		}
		for _, l := range strings.Split(strings.TrimSpace(fmt.Sprint(v)), "\n") {
			f := strings.Fields(l)
			if len(f) < 8 {
				continue
			}
			role := strings.TrimPrefix(f[2], "myself,")
			lines = append(lines, n.Addr+" sees "+f[0]+" "+strings.Split(f[1], "@")[0]+" "+role+" "+f[3]+" "+f[7]+" "+strings.Join(f[8:], " "))
		}
		info, _ := n.Do("CLUSTER", "INFO")
		for _, l := range strings.Split(fmt.Sprint(info), "\n") {
			if strings.HasPrefix(l, "cluster_state:") || strings.HasPrefix(l, "cluster_current_epoch:") {
				lines = append(lines, n.Addr+" "+strings.TrimSpace(l))
			}
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestClusterHostileTenant runs the attacks a token holder of a Cluster database could try on
// the cluster's topology, on the shared connections' state, on other nodes and hosts, and on the
// gateway's CPU and memory: topology-changing CLUSTER subcommands (directly, in pipelines and
// transactions, and from Lua), READONLY/READWRITE/ASKING on the shared connections, MIGRATE to a
// host of the attacker's, Lua touching undeclared keys of other slots, fan-outs over every
// primary, a 100,000-command /pipeline and forged SCAN cursors. Each must be refused or
// harmless: the slot map, epochs and roles are unchanged, another database served by the
// same gateway (on its own Redis) is untouched, and concurrent checkers on both databases see
// no error and no wrong answer throughout.
func TestClusterHostileTenant(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 1)
	other := redistest.Start(t)
	const victimToken = "victim-database-token-0123456789"
	dir := t.TempDir()
	file := filepath.Join(dir, "redisgate.yaml")
	yaml := fmt.Sprintf("databases:\n  - name: tenant\n    cluster: [%s]\n    tokens: [ %q ]\n  - name: victim\n    upstream: %s\n    tokens: [ %q ]\n",
		rc.Seeds(), clusterToken, other.URL(), victimToken)
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	url, _ := startRun(t, "redisgate listening on", "--config", file, "--listen", "127.0.0.1:0", "--admin-listen", "",
		"--max-conns-per-ip", "0", "--command-timeout", "3s", "--max-response", "1MiB")
	c := httpClient(t, 16)

	// State the attacks must not change.
	for i := range 2000 {
		other.MustDo("SET", fmt.Sprintf("victim:%d", i), "secret-of-the-victim")
	}
	var fill strings.Builder
	fill.WriteString("[")
	for i := range 5000 {
		if i > 0 {
			fill.WriteString(",")
		}
		fmt.Fprintf(&fill, `["SET","t:%d","%s"]`, i, strings.Repeat("v", 200))
	}
	fill.WriteString("]")
	if code, body := postC(c, url, "/pipeline", fill.String()); code != 200 {
		t.Fatalf("fill: %d %.200s", code, body)
	}
	// 3,000 keys with names of 400 bytes: KEYS * answers 1.2 MB from 3 nodes, 0.4 MB each.
	fill.Reset()
	fill.WriteString("[")
	for i := range 3000 {
		if i > 0 {
			fill.WriteString(",")
		}
		fmt.Fprintf(&fill, `["SET","long:%d:%s","x"]`, i, strings.Repeat("k", 400))
	}
	fill.WriteString("]")
	if code, body := postC(c, url, "/pipeline", fill.String()); code != 200 {
		t.Fatalf("fill: %d %.200s", code, body)
	}
	topology := slotOwners(t, rc)

	// Checkers: unique SET/GET pairs and cross-slot pipelines on the tenant's database and the
	// victim's, all the time the attacks run.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var checks atomic.Int64
	var mu sync.Mutex
	var checkErrs []string
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				time.Sleep(5 * time.Millisecond)
				v := fmt.Sprintf("w%d-n%d", w, n)
				tok := clusterToken
				if w%2 == 1 {
					tok = victimToken
				}
				body := fmt.Sprintf(`[["SET","check:%d:a","%s"],["SET","check:%d:b","%s"],["GET","check:%d:a"],["MGET","check:%d:b","check:%d:a"]]`, w, v, w, v, w, w, w)
				want := fmt.Sprintf(`[{"result":"OK"},{"result":"OK"},{"result":"%s"},{"result":["%s","%s"]}]`, v, v, v)
				code, got := postToken(c, url, "/pipeline", tok, body)
				checks.Add(1)
				if code != 200 || got != want {
					mu.Lock()
					checkErrs = append(checkErrs, fmt.Sprintf("checker %d: %d %s", w, code, got))
					mu.Unlock()
				}
			}
		}()
	}
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
			wg.Wait()
		}
	}()

	refusedJSON := func(what string, code int, body string) {
		t.Helper()
		var e struct{ Error string }
		if code < 400 || code >= 500 || json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
			t.Errorf("%s: %d %s, want a JSON 4xx refusal", what, code, body)
		}
	}
	t.Run("topology-changing CLUSTER subcommands", func(t *testing.T) {
		id := fmt.Sprint(rc.Primaries[1].MustDo("CLUSTER", "MYID"))
		host, port, _ := strings.Cut(rc.Primaries[2].Addr, ":")
		for _, args := range [][]string{
			{"CLUSTER", "FAILOVER", "TAKEOVER"}, {"CLUSTER", "RESET", "HARD"}, {"CLUSTER", "SETSLOT", "0", "NODE", id},
			{"CLUSTER", "SETSLOT", "0", "MIGRATING", id}, {"CLUSTER", "FORGET", id}, {"CLUSTER", "MEET", "127.0.0.1", "1"},
			{"CLUSTER", "ADDSLOTS", "0"}, {"CLUSTER", "DELSLOTS", "0"}, {"CLUSTER", "DELSLOTSRANGE", "0", "16383"},
			{"CLUSTER", "FLUSHSLOTS"}, {"CLUSTER", "REPLICATE", id}, {"CLUSTER", "BUMPEPOCH"}, {"CLUSTER", "SET-CONFIG-EPOCH", "99"},
			{"CLUSTER", "SAVECONFIG"}, {"CLUSTER", "NODES"}, {"CLUSTER", "SLOTS"}, {"CLUSTER", "SHARDS"}, {"CLUSTER", "MYID"},
			{"CLUSTER", "GETKEYSINSLOT", "0", "10"}, {"CLUSTER", "LINKS"},
		} {
			b, _ := json.Marshal(args)
			code, body := postC(c, url, "/", string(b))
			refusedJSON(strings.Join(args, " "), code, body)
			if strings.Contains(body, host+":"+port) || strings.Contains(body, id) {
				t.Errorf("%s: the answer shows a node: %s", args, body)
			}
			code, body = postC(c, url, "/pipeline", `[["GET","t:1"],`+string(b)+`]`)
			if code != 200 || !strings.Contains(body, `{"error":`) || !strings.HasPrefix(body, `[{"result":"vvv`) {
				t.Errorf("%s in a pipeline: %d %.200s", args, code, body)
			}
			code, body = postC(c, url, "/multi-exec", `[["SET","{t}x","1"],`+string(b)+`]`)
			refusedJSON(strings.Join(args, " ")+" in a transaction", code, body)
		}
		// From Lua: Redis refuses admin commands in scripts and the confined ACL user has no
		// CLUSTER either.
		for _, script := range []string{
			`return redis.call('CLUSTER','RESET','HARD')`, `return redis.call('CLUSTER','SETSLOT','0','NODE','` + id + `')`,
			`return redis.call('CLUSTER','FAILOVER')`, `return redis.call('CLUSTER','NODES')`,
		} {
			b, _ := json.Marshal([]string{"EVAL", script, "0"})
			code, body := postC(c, url, "/", string(b))
			refusedJSON(script, code, body)
		}
		if code, body := postC(c, url, "/", `["GET","{t}x"]`); body != `{"result":null}` {
			t.Errorf("a refused transaction ran: %d %s", code, body)
		}
	})

	t.Run("connection state on the shared connections", func(t *testing.T) {
		for _, cmd := range []string{"READONLY", "READWRITE", "ASKING"} {
			code, body := postC(c, url, "/", `["`+cmd+`"]`)
			refusedJSON(cmd, code, body)
			code, body = postC(c, url, "/pipeline", `[["`+cmd+`"],["SET","t:1","x"],["`+cmd+`"]]`)
			if code != 200 || !strings.HasPrefix(body, `[{"error":`) || !strings.Contains(body, `},{"result":"OK"},{"error":`) {
				t.Errorf("%s in a pipeline: %d %s", cmd, code, body)
			}
			code, body = postC(c, url, "/multi-exec", `[["`+cmd+`"],["SET","t:1","y"]]`)
			refusedJSON(cmd+" in a transaction", code, body)
		}
		// From Lua Redis lets them through, but they set the flag of the node's script client,
		// not of the shared connection the EVAL came on: a write after it in the same batch
		// (one slot: one connection) and on every other primary is answered as before, and
		// the checkers go on.
		for _, cmd := range []string{"READONLY", "READWRITE", "ASKING"} {
			code, body := postC(c, url, "/pipeline", `[["EVAL","return redis.call('`+cmd+`')","1","{a}k"],["SET","{a}after","1"],["INCR","{a}n"]]`)
			if code != 200 || !strings.HasPrefix(body, `[{"result":"OK"},{"result":"OK"},{"result":`) {
				t.Errorf("%s from Lua, then a write on its connection: %d %s", cmd, code, body)
			}
			code, body = postC(c, url, "/pipeline", `[["SET","{a}after","1"],["SET","{b}after","1"],["SET","{c}after","1"]]`)
			if code != 200 || body != `[{"result":"OK"},{"result":"OK"},{"result":"OK"}]` {
				t.Errorf("%s from Lua, then writes to every primary: %d %s", cmd, code, body)
			}
		}
		// Sharded pub/sub would bypass the gateway's channel handling: refused.
		for _, args := range []string{`["SSUBSCRIBE","ch"]`, `["SUNSUBSCRIBE","ch"]`} {
			code, body := postC(c, url, "/", args)
			refusedJSON(args, code, body)
		}
		if code, body := postC(c, url, "/", `["GET","t:1"]`); body != `{"result":"x"}` {
			t.Errorf("t:1 after the refused transactions: %d %s", code, body)
		}
	})

	t.Run("MIGRATE to another host, directly and from Lua", func(t *testing.T) {
		host, port, _ := strings.Cut(other.Addr, ":")
		for _, args := range [][]string{
			{"MIGRATE", host, port, "t:2", "0", "1000"},
			{"MIGRATE", host, port, "", "0", "1000", "COPY", "KEYS", "t:3", "t:4"},
			{"EVAL", "return redis.call('MIGRATE','" + host + "','" + port + "',KEYS[1],'0','1000','COPY')", "1", "t:5"},
			{"RESTORE-ASKING", "t:new", "0", "x"},
		} {
			b, _ := json.Marshal(args)
			code, body := postC(c, url, "/", string(b))
			refusedJSON(args[0], code, body)
		}
		if n := other.MustDo("EXISTS", "t:2", "t:3", "t:4", "t:5"); n != int64(0) {
			t.Errorf("%v of the tenant's keys reached the other host", n)
		}
	})

	t.Run("Lua touching undeclared keys of other slots", func(t *testing.T) {
		// {a} is on the third primary, {b} on the first: the script runs on {a}'s node.
		for _, args := range [][]string{
			{"EVAL", "return redis.call('SET','{b}undeclared','v')", "1", "{a}declared"},
			{"EVAL", "return redis.call('GET','{b}undeclared')", "1", "{a}declared"},
			{"EVAL", "return redis.call('SET','{b}undeclared','v')", "0"},
			{"EVAL", "return redis.call('KEYS','*')", "0"},
		} {
			b, _ := json.Marshal(args)
			code, body := postC(c, url, "/", string(b))
			if code != 200 && code != 400 || !strings.HasPrefix(body, `{"result":`) && !strings.HasPrefix(body, `{"error":`) {
				t.Errorf("%s: %d %.200s", args[1], code, body)
			}
			if strings.Contains(body, "secret-of-the-victim") {
				t.Errorf("%s: the victim's data in the answer", args[1])
			}
		}
		// Declared keys in two slots: Redis Cluster's CROSSSLOT, nothing run.
		code, body := postC(c, url, "/", `["EVAL","return redis.call('SET',KEYS[2],'v')","2","{a}x","{b}y"]`)
		if code != 400 || !strings.HasPrefix(body, `{"error":"CROSSSLOT`) {
			t.Errorf("EVAL over two slots: %d %s, want 400 CROSSSLOT", code, body)
		}
		// Whatever ran, the gateway answers where the key lives: a key written by a script on
		// a node that does not own its slot would be unreadable.
		for _, n := range rc.Primaries {
			v, _ := n.Do("CLUSTER", "COUNTKEYSINSLOT", "3300")
			if k, _ := n.Do("EXISTS", "{b}undeclared"); k == int64(1) && v == int64(0) {
				t.Errorf("{b}undeclared stored on %s, which does not own its slot", n.Addr)
			}
		}
	})

	t.Run("fan-outs over every primary", func(t *testing.T) {
		start := time.Now()
		// KEYS over 8,000 keys of 3 primaries, 1.2 MB of names: more than --max-response
		// (1 MiB) in all, though less from each node.
		code, body := postC(c, url, "/", `["KEYS","*"]`)
		if code == 200 || !strings.HasPrefix(body, `{"error":`) || !strings.Contains(body, "large") {
			t.Errorf("KEYS * of 1.2 MB: %d, %d bytes %.100s; want it refused by --max-response 1MiB", code, len(body), body)
		}
		t.Logf("KEYS * of 1.2 MB over 3 primaries: %d %s", code, body)
		code, body = postC(c, url, "/", `["KEYS","t:*"]`)
		if code != 200 || strings.Count(body, `"t:`) != 5000 {
			t.Errorf("KEYS t:*: %d, %d bytes %.100s", code, len(body), body)
		}
		// 10,000 DBSIZE (30,000 node commands) in one pipeline: bounded by --max-pipeline.
		code, body = postC(c, url, "/pipeline", "["+strings.TrimSuffix(strings.Repeat(`["DBSIZE"],`, 10000), ",")+"]")
		if code != 200 || strings.Count(body, `{"result":`) != 10000 {
			t.Errorf("10,000 DBSIZE: %d %.200s", code, body)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("the fan-outs took %v", d)
		}
		t.Logf("KEYS * over 5,000 keys and 10,000 DBSIZE over 3 primaries: %v", time.Since(start))
	})

	t.Run("a /pipeline of 100,000 commands over every slot", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("[")
		for i := range 100000 {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `["GET","t:%d"]`, i)
		}
		b.WriteString("]")
		code, body := postC(c, url, "/pipeline", b.String())
		refusedJSON("100,000 commands", code, body)
		if !strings.Contains(body, "too many") {
			t.Errorf("100,000 commands: %s, want the --max-pipeline refusal", body)
		}
	})

	t.Run("forged SCAN cursors", func(t *testing.T) {
		for _, cur := range []string{"18446744073709551615", "1023", "3", "1024", "18446744073709551614", "-1", "abc", "99999999999999999999", "0x10", "9223372036854775809"} {
			code, body := postC(c, url, "/", `["SCAN","`+cur+`","COUNT","10"]`)
			switch {
			case code == 200 && regexp.MustCompile(`^\{"result":\["\d+",\[.*\]\]\}$`).MatchString(body):
			case code == 400 && strings.HasPrefix(body, `{"error":"ERR`):
			default:
				t.Errorf("SCAN %s: %d %.200s", cur, code, body)
			}
			if strings.Contains(body, "victim") {
				t.Errorf("SCAN %s reached the victim's database: %.200s", cur, body)
			}
			code, body = postC(c, url, "/", `["SCAN","`+cur+`","COUNT","10","WITHTYPE"]`)
			if code != 200 && code != 400 || strings.Contains(body, "victim") {
				t.Errorf("SCAN %s WITHTYPE: %d %.200s", cur, code, body)
			}
		}
	})

	close(stop)
	wg.Wait()
	if after := slotOwners(t, rc); after != topology {
		t.Errorf("the cluster changed:\n%s\nwas\n%s", after, topology)
	}
	if n := other.MustDo("DBSIZE"); n != int64(2000+4) { // the victim's keys and its checkers' check:1:a/b, check:3:a/b
		t.Errorf("the victim's database holds %v keys, want 2004", n)
	}
	t.Logf("%d checker pipelines during the attacks", checks.Load())
	if len(checkErrs) > 0 {
		t.Errorf("%d checker pipelines failed or were answered wrongly, e.g. %s", len(checkErrs), checkErrs[0])
	}
}
