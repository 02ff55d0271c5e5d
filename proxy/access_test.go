package proxy_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redisgate/redisgate/proxy"
	"github.com/redisgate/redisgate/script"
)

const wrongpass = `{"error":"WRONGPASS invalid or missing auth token"}`

func TestAuth(t *testing.T) {
	g := startGateway(t)
	runSteps(t, g, []step{
		{name: "no token", method: "GET", path: "/ping", headers: []string{"Authorization", ""}, wantStatus: 401, wantBody: wrongpass},
		{name: "wrong token", method: "GET", path: "/ping", headers: []string{"Authorization", "Bearer nope-nope-nope-nope-nope"}, wantStatus: 401, wantBody: wrongpass},
		{name: "token prefix", method: "GET", path: "/ping", headers: []string{"Authorization", "Bearer " + rwToken[:20]}, wantStatus: 401, wantBody: wrongpass},
		{name: "other scheme", method: "GET", path: "/ping", headers: []string{"Authorization", "Basic " + rwToken}, wantStatus: 401, wantBody: wrongpass},
		{name: "lower-case scheme", method: "GET", path: "/ping", headers: []string{"Authorization", "bearer " + rwToken}, wantStatus: 200, wantBody: `{"result":"PONG"}`},
		{name: "query token", method: "GET", path: "/ping?_token=" + rwToken, headers: []string{"Authorization", ""}, wantStatus: 200, wantBody: `{"result":"PONG"}`},
		{name: "query token is not an argument", method: "GET", path: "/echo/x?_token=" + rwToken, headers: []string{"Authorization", ""}, wantStatus: 200, wantBody: `{"result":"x"}`},
		{name: "wrong header does not fall back to query", method: "GET", path: "/ping?_token=" + rwToken, headers: []string{"Authorization", "Bearer wrong-wrong-wrong-wrong"}, wantStatus: 401, wantBody: wrongpass},
		{name: "pipeline needs a token too", path: "/pipeline", body: `[["PING"]]`, headers: []string{"Authorization", ""}, wantStatus: 401, wantBody: wrongpass},
	})
}

func TestReadOnlyToken(t *testing.T) {
	g := startGateway(t)
	ro := []string{"Authorization", "Bearer " + roToken}
	runSteps(t, g, []step{
		{name: "seed", path: "/", body: `["SET","k","v"]`, wantStatus: 200, wantBody: `{"result":"OK"}`},
		{name: "read", method: "GET", path: "/get/k", headers: ro, wantStatus: 200, wantBody: `{"result":"v"}`},
		{name: "read many", path: "/", body: `["MGET","k","x"]`, headers: ro, wantStatus: 200, wantBody: `{"result":["v",null]}`},
		{name: "write refused", method: "GET", path: "/set/k/w", headers: ro, wantStatus: 400, wantBody: `{"error":"NOPERM this token is read-only and cannot run 'SET'"}`},
		{name: "dangerous read refused", method: "GET", path: "/keys/*", headers: ro, wantStatus: 400, wantBody: `{"error":"NOPERM this token is read-only and cannot run 'KEYS'"}`},
		{name: "scan refused", method: "GET", path: "/scan/0", headers: ro, wantStatus: 400, wantBody: `{"error":"NOPERM this token is read-only and cannot run 'SCAN'"}`},
		{name: "eval refused", path: "/", body: `["EVAL","return 1",0]`, headers: ro, wantStatus: 400, wantBody: `{"error":"NOPERM this token is read-only and cannot run 'EVAL'"}`},
		{name: "eval_ro allowed", path: "/", body: `["EVAL_RO","return redis.call('get',KEYS[1])",1,"k"]`, headers: ro, wantStatus: 200, wantBody: `{"result":"v"}`},
		{name: "seed a list", path: "/", body: `["RPUSH","l","3","1","2"]`, wantStatus: 200, wantBody: `{"result":3}`},
		{name: "sort_ro allowed (@read)", path: "/", body: `["SORT_RO","l"]`, headers: ro, wantStatus: 200, wantBody: `{"result":["1","2","3"]}`},
		{name: "sort refused (it may STORE)", path: "/", body: `["SORT","l"]`, headers: ro, wantStatus: 400, wantBody: `{"error":"NOPERM this token is read-only and cannot run 'SORT'"}`},
		{name: "randomkey refused", path: "/", body: `["RANDOMKEY"]`, headers: ro, wantStatus: 400, wantBody: `{"error":"NOPERM this token is read-only and cannot run 'RANDOMKEY'"}`},
		{name: "flushall refused", path: "/", body: `["FLUSHALL"]`, headers: ro, wantStatus: 400, wantBody: `{"error":"NOPERM this token is read-only and cannot run 'FLUSHALL'"}`},
		{name: "pipeline entry refused", path: "/pipeline", body: `[["GET","k"],["DEL","k"]]`, headers: ro, wantStatus: 200,
			wantBody: `[{"result":"v"},{"error":"NOPERM this token is read-only and cannot run 'DEL'"}]`},
		{name: "multi-exec refused whole", path: "/multi-exec", body: `[["GET","k"],["DEL","k"]]`, headers: ro, wantStatus: 400,
			wantBody: `{"error":"NOPERM this token is read-only and cannot run 'DEL' (command 1; transaction discarded)"}`},
		{name: "value unchanged", method: "GET", path: "/get/k", headers: ro, wantStatus: 200, wantBody: `{"result":"v"}`},
	})
}

func TestRefusedCommands(t *testing.T) {
	g := startGateway(t)
	for _, tt := range []struct {
		give       string
		wantReason string
	}{
		{`["WATCH","k"]`, "transactions run through /multi-exec"},
		{`["UNWATCH"]`, "transactions run through /multi-exec"},
		{`["MULTI"]`, "transactions run through /multi-exec"},
		{`["EXEC"]`, "transactions run through /multi-exec"},
		{`["DISCARD"]`, "transactions run through /multi-exec"},
		{`["SELECT","1"]`, "connections are shared; each token has one database"},
		{`["AUTH","x"]`, "authenticate with the gateway token"},
		{`["HELLO","3"]`, "connections are shared"},
		{`["CLIENT","KILL","ID","1"]`, "connections are shared"},
		{`["RESET"]`, "connections are shared"},
		{`["QUIT"]`, "connections are shared"},
		{`["READONLY"]`, "connections are shared"},
		{`["READWRITE"]`, "connections are shared"},
		{`["SUBSCRIBE","c"]`, "use the /subscribe endpoint"},
		{`["PSUBSCRIBE","c*"]`, "use the /psubscribe endpoint"},
		{`["UNSUBSCRIBE"]`, "use the /subscribe endpoint"},
		{`["MONITOR"]`, "use the /monitor endpoint"},
		{`["SHUTDOWN"]`, "the gateway does not stop its backend"},
		{`["DEBUG","SLEEP","10"]`, "it can stall or crash the shared backend"},
		{`["REPLICAOF","127.0.0.1","1"]`, "the gateway owns the replication topology"},
		{`["CONFIG","SET","requirepass","x"]`, "server administration is not available through the gateway"},
	} {
		name := strings.Split(strings.Trim(tt.give, `[]`), ",")[0]
		name = strings.ToUpper(strings.Trim(name, `"`))
		want := fmt.Sprintf(`{"error":"ERR command '%s' is not supported by redisgate: %s"}`, name, tt.wantReason)
		g.req("POST", "/", tt.give).expect(t, 400, want)
	}
	for _, give := range []string{`["BLPOP","l","0"]`, `["BRPOP","l","1"]`, `["BLMOVE","a","b","LEFT","LEFT","0"]`, `["BZPOPMIN","z","0"]`, `["WAIT","1","0"]`, `["XREAD","BLOCK","0","STREAMS","s","$"]`} {
		name := strings.ToUpper(strings.Trim(strings.Split(strings.Trim(give, `[]`), ",")[0], `"`))
		want := fmt.Sprintf(`{"error":"ERR blocking command '%s' is not supported by redisgate: it would stall a shared connection"}`, name)
		g.req("POST", "/", give).expect(t, 400, want)
	}
	// The server is still the one we started, on database 0, with its password unchanged.
	g.req("POST", "/", `["SET","still","here"]`).expect(t, 200, `{"result":"OK"}`)
	g.req("POST", "/", `["XREAD","COUNT","1","STREAMS","s","0"]`).expect(t, 200, `{"result":null}`)
}

func TestHTTPSurface(t *testing.T) {
	g := startGateway(t, withOptions(func(o *proxy.Options) { o.MaxBodyBytes = 1024 }))
	runSteps(t, g, []step{
		{name: "DELETE", method: "DELETE", path: "/get/k", wantStatus: 405, wantBody: `{"error":"ERR method DELETE not allowed"}`},
		{name: "PATCH", method: "PATCH", path: "/get/k", wantStatus: 405, wantBody: `{"error":"ERR method PATCH not allowed"}`},
		{name: "body too large", path: "/set/k", body: strings.Repeat("x", 2000), wantStatus: 413, wantBody: `{"error":"ERR request body larger than 1024 bytes"}`},
		{name: "body at limit", path: "/set/k", body: strings.Repeat("x", 1000), wantStatus: 200, wantBody: `{"result":"OK"}`},
	})
	r := g.req("DELETE", "/get/k", "")
	if got := r.header.Get("Allow"); got != "GET, POST, PUT, HEAD, OPTIONS" {
		t.Errorf("Allow = %q", got)
	}

	pre := g.req("OPTIONS", "/pipeline", "", "Authorization", "", "Origin", "https://app.example", "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "authorization,content-type,upstash-encoding,upstash-sync-token")
	if pre.status != 204 {
		t.Errorf("preflight status %d", pre.status)
	}
	for k, want := range map[string]string{
		"Access-Control-Allow-Origin":   "*",
		"Access-Control-Allow-Methods":  "GET, POST, PUT, HEAD, OPTIONS",
		"Access-Control-Allow-Headers":  "authorization,content-type,upstash-encoding,upstash-sync-token",
		"Access-Control-Expose-Headers": "Upstash-Sync-Token, RateLimit-Policy, RateLimit, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After",
	} {
		if got := pre.header.Get(k); got != want {
			t.Errorf("preflight %s = %q, want %q", k, got, want)
		}
	}

	// Every response, errors included, carries a fresh sync token and CORS headers.
	seen := map[string]bool{}
	for _, r := range []response{
		g.req("GET", "/ping", ""),
		g.req("POST", "/pipeline", `[["PING"]]`),
		g.req("POST", "/multi-exec", `[["PING"]]`),
		g.req("GET", "/incr/k", ""),
		g.req("GET", "/ping", "", "Authorization", ""),
		g.req("DELETE", "/ping", ""),
	} {
		tok := r.header.Get("Upstash-Sync-Token")
		if tok == "" || seen[tok] {
			t.Errorf("sync token %q missing or repeated (status %d)", tok, r.status)
		}
		seen[tok] = true
		if r.header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("no CORS header on status %d", r.status)
		}
		if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Errorf("content type %q on status %d", r.header.Get("Content-Type"), r.status)
		}
	}
}

// raw sends a hand-written HTTP request and returns the status line and body.
func raw(t *testing.T, url, request string) (string, string) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(request)); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading response to %q: %v", request, err)
	}
	defer res.Body.Close()
	var b strings.Builder
	bufio.NewReader(res.Body).WriteTo(&b)
	return res.Status, b.String()
}

func TestMalformedRequests(t *testing.T) {
	g := startGateway(t)
	auth := "Authorization: Bearer " + rwToken + "\r\n"
	for _, tt := range []struct {
		name, request, wantStatus, wantBody string
	}{
		{"bad percent-encoding", "GET /get/%zz HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", "400 Bad Request", `{"error":"ERR invalid path: bad percent-encoding"}`},
		{"truncated percent-encoding", "GET /get/a%2 HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", "400 Bad Request", `{"error":"ERR invalid path: bad percent-encoding"}`},
		{"encoded slash stays in the argument", "GET /echo/a%2Fb HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", "200 OK", `{"result":"a/b"}`},
		{"dot segments are arguments", "GET /echo/../x HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", "400 Bad Request", `{"error":"ERR wrong number of arguments for 'echo' command"}`},
		{"content-length larger than body sent", "POST /set/k HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 5000000\r\n\r\nabc", "413 Request Entity Too Large", `{"error":"ERR request body larger than 1048576 bytes"}`},
		{"garbage request line", "HELLO\r\n\r\n", "400 Bad Request", `{"error":"ERR malformed HTTP request"}`},
	} {
		status, body := raw(t, g.url, tt.request)
		if status != tt.wantStatus || body != tt.wantBody {
			t.Errorf("%s: got %s %s, want %s %s", tt.name, status, body, tt.wantStatus, tt.wantBody)
		}
	}
}

func TestUpstashScripts(t *testing.T) {
	g := startGateway(t)
	src := "#!lua flags=allow-key-locking,no-writes\nreturn redis.call('GET', KEYS[1])"
	body := func(cmd ...string) string {
		var q []string
		for _, c := range cmd {
			q = append(q, fmt.Sprintf("%q", c))
		}
		return "[" + strings.Join(q, ",") + "]"
	}
	orig := script.Hash([]byte(src))
	runSteps(t, g, []step{
		{name: "seed", path: "/", body: body("SET", "k", "v"), wantStatus: 200, wantBody: `{"result":"OK"}`},
		{name: "stock redis rejects the flag", path: "/", body: body("EVALSHA", orig, "1", "k"), wantStatus: 400, wantBody: `{"error":"NOSCRIPT No matching script. Please use EVAL."}`},
		{name: "eval with unknown flag runs", path: "/", body: body("EVAL", src, "1", "k"), wantStatus: 200, wantBody: `{"result":"v"}`},
		{name: "evalsha of the original hash runs", path: "/", body: body("EVALSHA", orig, "1", "k"), wantStatus: 200, wantBody: `{"result":"v"}`},
		{name: "upper-case hash", path: "/", body: body("EVALSHA", strings.ToUpper(orig), "1", "k"), wantStatus: 200, wantBody: `{"result":"v"}`},
		{name: "evalsha_ro", path: "/", body: body("EVALSHA_RO", orig, "1", "k"), wantStatus: 200, wantBody: `{"result":"v"}`},
		{name: "script exists", path: "/", body: body("SCRIPT", "EXISTS", orig, "0000000000000000000000000000000000000000"), wantStatus: 200, wantBody: `{"result":[1,0]}`},
		{name: "script load answers the original hash", path: "/", body: body("SCRIPT", "LOAD", src+" "), wantStatus: 200, wantBody: `{"result":"` + script.Hash([]byte(src+" ")) + `"}`},
		{name: "in a pipeline", path: "/pipeline", body: "[" + body("EVALSHA", script.Hash([]byte(src+" ")), "1", "k") + "," + body("SCRIPT", "LOAD", src+"  ") + "]", wantStatus: 200,
			wantBody: `[{"result":"v"},{"result":"` + script.Hash([]byte(src+"  ")) + `"}]`},
		{name: "unknown script still NOSCRIPT", path: "/", body: body("EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"), wantStatus: 400, wantBody: `{"error":"NOSCRIPT No matching script. Please use EVAL."}`},
		{name: "runtime error line numbers kept", path: "/", body: body("EVAL", "#!lua flags=allow-key-locking\n\nreturn redis.call('NOPE')", "0"), wantStatus: 400,
			wantBody: `{"error":"ERR Unknown Redis command called from script script: ` + script.Hash([]byte("#!lua\n\nreturn redis.call('NOPE')")) + `, on @user_script:3."}`},
	})
}

func TestBackendDown(t *testing.T) {
	g := startGateway(t)
	g.req("GET", "/set/k/v", "").expect(t, 200, `{"result":"OK"}`)
	g.redis.Kill()
	for i := range 20 {
		start := time.Now()
		r := g.req("GET", "/get/k", "")
		if took := time.Since(start); took > time.Second {
			t.Errorf("request %d during outage took %v", i, took)
		}
		switch {
		case r.status == 502 && strings.HasPrefix(r.body, `{"error":"ERR backend: redis connection lost`):
			// The connection broke under the request.
		case r.status == 503 && r.body == `{"error":"ERR backend: cannot reach redis at `+g.redis.Addr+` (database test)"}`:
		default:
			t.Fatalf("request %d during outage: %d %s", i, r.status, r.body)
		}
	}
	g.redis.Restart()
	deadline := time.Now().Add(2 * time.Second)
	for {
		r := g.req("GET", "/set/k/back", "")
		if r.status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway did not recover within 2s of redis restarting: %d %s", r.status, r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	g.req("GET", "/get/k", "").expect(t, 200, `{"result":"back"}`)
}

func TestSlowClientGets408(t *testing.T) {
	g := startGateway(t, withOptions(func(o *proxy.Options) { o.ReadTimeout = 300 * time.Millisecond }))
	c, err := net.Dial("tcp", strings.TrimPrefix(g.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Headers never finished: the slowloris pattern.
	if _, err := c.Write([]byte("GET /ping HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	// Meanwhile a well-behaved client is served at once.
	g.req("GET", "/ping", "").expect(t, 200, `{"result":"PONG"}`)
	c.SetDeadline(time.Now().Add(3 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b strings.Builder
	bufio.NewReader(res.Body).WriteTo(&b)
	if res.StatusCode != 408 || b.String() != `{"error":"ERR request not received in time"}` {
		t.Errorf("slow client got %d %s", res.StatusCode, b.String())
	}
}
