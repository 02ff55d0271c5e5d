package main

import (
	"strings"
	"testing"

	"github.com/redisgate/redisgate/internal/redistest"
)

// TestClusterDatabase serves a database from a real Redis Cluster (3 primaries, a replica each)
// given by --cluster: REST commands and pipelines over keys of every shard, multi-key commands
// split across slots, a cross-slot transaction refused as Redis Cluster refuses it, tenants'
// connections confined by an ACL user on every node; and the configurations a Cluster cannot
// serve are refused at start with a clear message.
func TestClusterDatabase(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 1)
	token := "cluster-token-0123456789"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--upstream", "redis://" + rc.Primaries[0].Addr + "/2"}, "database 0 only"},
		{[]string{"--limit-ip", "10/s"}, "--limit-redis"},
	} {
		var stderr strings.Builder
		args := append([]string{"--listen", "127.0.0.1:0", "--cluster", rc.Seeds(), "--token", token}, tc.args...)
		if code := run(t.Context(), args, testEnv(nil), &stderr, &stderr); code == 0 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, %q; want a refusal saying %q", tc.args, code, stderr.String(), tc.want)
		}
	}

	url, _ := startRun(t, "redisgate listening on", "--listen", "127.0.0.1:0", "--cluster", rc.Primaries[1].Addr, "--token", token,
		"--consistency", "strong")
	for _, step := range []struct{ method, path, body, want string }{
		{"POST", "/pipeline", `[["SET","a","1"],["SET","b","2"],["SET","c","3"],["INCR","n"]]`, `[{"result":"OK"},{"result":"OK"},{"result":"OK"},{"result":1}]`},
		{"GET", "/mget/a/b/nope/c", "", `{"result":["1","2",null,"3"]}`},
		{"GET", "/dbsize", "", `{"result":4}`},
		{"POST", "/", `["DEL","a","b","c"]`, `{"result":3}`},
		{"POST", "/multi-exec", `[["SET","{u}x","1"],["INCR","{u}x"]]`, `[{"result":"OK"},{"result":2}]`},
		{"POST", "/", `["SELECT","1"]`, ``},
	} {
		code, body := send(t, step.method, url+step.path, token, strings.NewReader(step.body))
		if step.want != "" && (code != 200 || body != step.want) {
			t.Errorf("%s %s %s: %d %s, want %s", step.method, step.path, step.body, code, body, step.want)
		}
		if step.want == "" && code == 200 {
			t.Errorf("%s %s %s: %d %s, want a refusal", step.method, step.path, step.body, code, body)
		}
	}
	code, body := send(t, "POST", url+"/multi-exec", token, strings.NewReader(`[["SET","a","1"],["SET","b","2"]]`))
	if code == 200 || !strings.Contains(body, "CROSSSLOT") && !strings.Contains(body, "EXECABORT") {
		t.Errorf("a transaction over two slots: %d %s", code, body)
	}
	for _, n := range rc.Primaries {
		if v, err := n.Do("ACL", "LIST"); err != nil || !strings.Contains(strings.Join(anyStrings(v), "\n"), "redisgate") {
			t.Errorf("no confined ACL user on %s: %v %v", n.Addr, v, err)
		}
	}
}

func anyStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, x := range l {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}
