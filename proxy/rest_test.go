package proxy_test

import (
	"net/http"
	"strings"
	"testing"
)

// step is one request and the exact answer expected; steps run in order against one database.
type step struct {
	name       string
	method     string
	path       string
	body       string
	headers    []string
	wantStatus int
	wantBody   string
}

// runSteps runs steps in order. Like the SDK, each request carries the sync token of the
// answer before it, so that on a replicated database reads see the writes before them.
func runSteps(t *testing.T, g *gateway, steps []step) {
	t.Helper()
	sync := ""
	for _, s := range steps {
		method := s.method
		if method == "" {
			method = http.MethodPost
		}
		r := g.req(method, s.path, s.body, append([]string{"Upstash-Sync-Token", sync}, s.headers...)...)
		sync = r.header.Get("Upstash-Sync-Token")
		if r.status != s.wantStatus || r.body != s.wantBody {
			t.Errorf("%s: %s %s %q: got %d %s, want %d %s", s.name, method, s.path, s.body, r.status, r.body, s.wantStatus, s.wantBody)
		}
		if r.status >= 300 && !strings.HasPrefix(r.body, `{"error":`) && method != http.MethodHead {
			t.Errorf("%s: non-2xx answer without a JSON error: %q", s.name, r.body)
		}
	}
}

func TestPathCommands(t *testing.T) { run(t, testPathCommands, allModes) }

func testPathCommands(t *testing.T, g *gateway) {
	runSteps(t, g, []step{
		{name: "GET set", method: "GET", path: "/set/k/v", wantStatus: 200, wantBody: `{"result":"OK"}`},
		{name: "GET get", method: "GET", path: "/get/k", wantStatus: 200, wantBody: `{"result":"v"}`},
		{name: "command case-insensitive", method: "GET", path: "/GeT/k", wantStatus: 200, wantBody: `{"result":"v"}`},
		{name: "missing key is null", method: "GET", path: "/get/nokey", wantStatus: 200, wantBody: `{"result":null}`},
		{name: "POST body is last argument", path: "/set/k2", body: "hello world", wantStatus: 200, wantBody: `{"result":"OK"}`},
		{name: "read body value", method: "GET", path: "/get/k2", wantStatus: 200, wantBody: `{"result":"hello world"}`},
		{name: "PUT body", method: "PUT", path: "/set/k3", body: `{"a":1}`, wantStatus: 200, wantBody: `{"result":"OK"}`},
		{name: "JSON value stays a string", method: "GET", path: "/get/k3", wantStatus: 200, wantBody: `{"result":"{\"a\":1}"}`},
		{name: "query params after body", path: "/set/k4?EX=100", body: "v4", wantStatus: 200, wantBody: `{"result":"OK"}`},
		{name: "ttl set by query", method: "GET", path: "/ttl/k4", wantStatus: 200, wantBody: `{"result":100}`},
		{name: "flag query param without value", path: "/set/k4?NX", body: "other", wantStatus: 200, wantBody: `{"result":null}`},
		{name: "percent-decoded segments", method: "GET", path: "/set/a%2Fb%20c/x%25y", wantStatus: 200, wantBody: `{"result":"OK"}`},
		{name: "read percent key", method: "GET", path: "/get/a%2Fb%20c", wantStatus: 200, wantBody: `{"result":"x%y"}`},
		{name: "plus is not space in path", method: "GET", path: "/echo/a+b", wantStatus: 200, wantBody: `{"result":"a+b"}`},
		{name: "trailing slash is an empty argument", method: "GET", path: "/set/empty/", wantStatus: 200, wantBody: `{"result":"OK"}`},
		{name: "empty value", method: "GET", path: "/strlen/empty", wantStatus: 200, wantBody: `{"result":0}`},
		{name: "integer reply", method: "GET", path: "/incrby/n/5", wantStatus: 200, wantBody: `{"result":5}`},
		{name: "negative integer", method: "GET", path: "/decrby/n/7", wantStatus: 200, wantBody: `{"result":-2}`},
		{name: "array reply", method: "GET", path: "/rpush/l/a/b/c", wantStatus: 200, wantBody: `{"result":3}`},
		{name: "lrange", method: "GET", path: "/lrange/l/0/-1", wantStatus: 200, wantBody: `{"result":["a","b","c"]}`},
		{name: "empty array", method: "GET", path: "/lrange/nolist/0/-1", wantStatus: 200, wantBody: `{"result":[]}`},
		{name: "redis error is 400", method: "GET", path: "/incr/l", wantStatus: 400, wantBody: `{"error":"WRONGTYPE Operation against a key holding the wrong kind of value"}`},
		{name: "unknown command", method: "GET", path: "/nosuchcmd/x", wantStatus: 400, wantBody: "{\"error\":\"ERR unknown command 'nosuchcmd', with args beginning with: 'x' \"}"},
		{name: "root GET has no command", method: "GET", path: "/", wantStatus: 400, wantBody: `{"error":"ERR no command: use POST / with a JSON array, or a command in the path"}`},
		{name: "HEAD answers without body", method: "HEAD", path: "/get/k", wantStatus: 200, wantBody: ``},
	})
}

func TestJSONCommands(t *testing.T) { run(t, testJSONCommands, allModes) }

func testJSONCommands(t *testing.T, g *gateway) {
	runSteps(t, g, []step{
		{name: "set with number", path: "/", body: `["SET","k","v","EX",100]`, wantStatus: 200, wantBody: `{"result":"OK"}`},
		{name: "ttl", path: "/", body: `["TTL","k"]`, wantStatus: 200, wantBody: `{"result":100}`},
		{name: "number literal text kept", path: "/", body: `["SET","f",1.50e3]`, wantStatus: 200, wantBody: `{"result":"OK"}`},
		{name: "read number", path: "/", body: `["GET","f"]`, wantStatus: 200, wantBody: `{"result":"1.50e3"}`},
		{name: "booleans become words", path: "/", body: ` [ "SET" , "b" , true ] `, wantStatus: 200, wantBody: `{"result":"OK"}`},
		{name: "read boolean", path: "/", body: `["GET","b"]`, wantStatus: 200, wantBody: `{"result":"true"}`},
		{name: "escapes and unicode", path: "/", body: `["SET","u","\u00e9\ud83d\ude00\n\"\\"]`, wantStatus: 200, wantBody: `{"result":"OK"}`},
		{name: "read unicode", path: "/", body: `["GET","u"]`, wantStatus: 200, wantBody: `{"result":"é😀\n\"\\"}`},
		{name: "null argument", path: "/", body: `["SET","k",null]`, wantStatus: 400, wantBody: `{"error":"ERR argument 2: invalid JSON at offset 11: null is not a valid argument"}`},
		{name: "object argument", path: "/", body: `["SET","k",{"a":1}]`, wantStatus: 400, wantBody: `{"error":"ERR argument 2: invalid JSON at offset 11: arguments must be strings, numbers or booleans, not objects"}`},
		{name: "object body", path: "/", body: `{"cmd":"GET"}`, wantStatus: 400, wantBody: `{"error":"ERR invalid JSON at offset 0: a command is an array, not an object"}`},
		{name: "truncated JSON", path: "/", body: `["GET","k"`, wantStatus: 400, wantBody: `{"error":"ERR invalid JSON at offset 10: expected ',' or ']' after argument 1"}`},
		{name: "empty array", path: "/", body: `[]`, wantStatus: 400, wantBody: `{"error":"ERR empty command"}`},
		{name: "trailing garbage", path: "/", body: `["GET","k"]x`, wantStatus: 400, wantBody: `{"error":"ERR invalid JSON at offset 11: unexpected data after the value"}`},
	})
}

func TestPipelineAndMultiExec(t *testing.T) { run(t, testPipelineAndMultiExec, allModes) }

func testPipelineAndMultiExec(t *testing.T, g *gateway) {
	runSteps(t, g, []step{
		{name: "pipeline", path: "/pipeline", body: `[["SET","a","1"],["INCR","a"],["LPUSH","a","x"],["GET","a"],["GET","none"]]`, wantStatus: 200,
			wantBody: `[{"result":"OK"},{"result":2},{"error":"WRONGTYPE Operation against a key holding the wrong kind of value"},{"result":"2"},{"result":null}]`},
		{name: "pipeline refused entry", path: "/pipeline", body: `[["GET","a"],["WATCH","a"],["GET","a"]]`, wantStatus: 200,
			wantBody: `[{"result":"2"},{"error":"ERR command 'WATCH' is not supported by redisgate: transactions run through /multi-exec"},{"result":"2"}]`},
		{name: "empty pipeline", path: "/pipeline", body: `[]`, wantStatus: 400, wantBody: `{"error":"ERR empty command"}`},
		{name: "pipeline not array of arrays", path: "/pipeline", body: `["GET","a"]`, wantStatus: 400, wantBody: `{"error":"ERR command 0: invalid JSON at offset 1: expected '[' to start a command"}`},
		{name: "pipeline GET not allowed", method: "GET", path: "/pipeline", wantStatus: 405, wantBody: `{"error":"ERR /pipeline takes POST with a JSON array of commands"}`},
		{name: "multi-exec", path: "/multi-exec", body: `[["SET","t","1"],["INCR","t"],["LPUSH","t","x"],["GET","t"]]`, wantStatus: 200,
			wantBody: `[{"result":"OK"},{"result":2},{"error":"WRONGTYPE Operation against a key holding the wrong kind of value"},{"result":"2"}]`},
		{name: "multi-exec queue-time error discards all", path: "/multi-exec", body: `[["SET","t","9"],["SET","t"]]`, wantStatus: 400,
			wantBody: `{"error":"EXECABORT Transaction discarded because of previous errors. (command 1: ERR wrong number of arguments for 'set' command)"}`},
		{name: "nothing of the aborted transaction ran", path: "/", body: `["GET","t"]`, wantStatus: 200, wantBody: `{"result":"2"}`},
		{name: "multi-exec refused command", path: "/multi-exec", body: `[["SET","t","9"],["SELECT","1"]]`, wantStatus: 400,
			wantBody: `{"error":"ERR command 'SELECT' is not supported by redisgate: connections are shared; each token has one database (command 1; transaction discarded)"}`},
		{name: "still not run", path: "/", body: `["GET","t"]`, wantStatus: 200, wantBody: `{"result":"2"}`},
		{name: "pipeline too long", path: "/pipeline", body: "[" + strings.Repeat(`["PING"],`, 100) + `["PING"]]`, wantStatus: 400, wantBody: `{"error":"ERR too many: more than 100 commands"}`},
	})
}

func TestBase64(t *testing.T) { run(t, testBase64, allModes) }

func testBase64(t *testing.T, g *gateway) {
	b64 := []string{"Upstash-Encoding", "base64"}
	runSteps(t, g, []step{
		{name: "top-level OK stays", path: "/", body: `["SET","k","OK"]`, headers: b64, wantStatus: 200, wantBody: `{"result":"OK"}`},
		{name: "bulk OK is encoded", path: "/", body: `["GET","k"]`, headers: b64, wantStatus: 200, wantBody: `{"result":"T0s="}`},
		{name: "integers stay numbers", path: "/", body: `["RPUSH","l","a","é"]`, headers: b64, wantStatus: 200, wantBody: `{"result":2}`},
		{name: "array of strings", path: "/", body: `["LRANGE","l",0,-1]`, headers: b64, wantStatus: 200, wantBody: `{"result":["YQ==","w6k="]}`},
		{name: "null stays null", path: "/", body: `["GET","none"]`, headers: b64, wantStatus: 200, wantBody: `{"result":null}`},
		{name: "nested arrays and nested status", path: "/", body: `["EVAL","return {1,{'x',redis.status_reply('OK')},false}",0]`, headers: b64, wantStatus: 200,
			wantBody: `{"result":[1,["eA==","T0s="],null]}`},
		{name: "errors are not encoded", path: "/", body: `["INCR","l"]`, headers: b64, wantStatus: 400, wantBody: `{"error":"WRONGTYPE Operation against a key holding the wrong kind of value"}`},
		{name: "pipeline entries", path: "/pipeline", body: `[["SET","p","v"],["GET","p"],["INCR","p"]]`, headers: b64, wantStatus: 200,
			wantBody: `[{"result":"OK"},{"result":"dg=="},{"error":"ERR value is not an integer or out of range"}]`},
		{name: "multi-exec entries", path: "/multi-exec", body: `[["SET","p","v"],["GET","p"]]`, headers: b64, wantStatus: 200, wantBody: `[{"result":"OK"},{"result":"dg=="}]`},
		{name: "binary with CR LF NUL", path: "/set/bin", body: "a\r\n\x00b", wantStatus: 200, wantBody: `{"result":"OK"}`},
		{name: "binary read", method: "GET", path: "/get/bin", headers: b64, wantStatus: 200, wantBody: `{"result":"YQ0KAGI="}`},
		{name: "binary read without base64 is escaped", method: "GET", path: "/get/bin", wantStatus: 200, wantBody: `{"result":"a\r\n\u0000b"}`},
		{name: "invalid UTF-8 without base64", path: "/set/bad", body: "\xff\xfeok", wantStatus: 200, wantBody: `{"result":"OK"}`},
		{name: "invalid UTF-8 replaced", method: "GET", path: "/get/bad", wantStatus: 200, wantBody: `{"result":"\ufffd\ufffdok"}`},
		{name: "unknown encoding", method: "GET", path: "/get/bad", headers: []string{"Upstash-Encoding", "hex"}, wantStatus: 400, wantBody: `{"error":"ERR unsupported Upstash-Encoding \"hex\": only base64"}`},
	})
}

func TestRESP2Format(t *testing.T) { run(t, testRESP2Format, allModes) }

func testRESP2Format(t *testing.T, g *gateway) {
	r2 := []string{"Upstash-Response-Format", "resp2"}
	runSteps(t, g, []step{
		{name: "status", path: "/", body: `["SET","k","v"]`, headers: r2, wantStatus: 200, wantBody: "+OK\r\n"},
		{name: "bulk", path: "/", body: `["GET","k"]`, headers: r2, wantStatus: 200, wantBody: "$1\r\nv\r\n"},
		{name: "nil", path: "/", body: `["GET","none"]`, headers: r2, wantStatus: 200, wantBody: "$-1\r\n"},
		{name: "error in band", path: "/", body: `["INCR","k"]`, headers: r2, wantStatus: 200, wantBody: "-ERR value is not an integer or out of range\r\n"},
		{name: "refused in band", path: "/", body: `["MULTI"]`, headers: r2, wantStatus: 200, wantBody: "-ERR command 'MULTI' is not supported by redisgate: transactions run through /multi-exec\r\n"},
		{name: "pipeline concatenated", path: "/pipeline", body: `[["RPUSH","l","a","b"],["LRANGE","l",0,-1],["GET","k"]]`, headers: r2, wantStatus: 200,
			wantBody: ":2\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nv\r\n"},
		{name: "multi-exec stays JSON", path: "/multi-exec", body: `[["GET","k"]]`, headers: r2, wantStatus: 200, wantBody: `[{"result":"v"}]`},
		{name: "resp2 with base64", path: "/", body: `["GET","k"]`, headers: append([]string{"Upstash-Encoding", "base64"}, r2...), wantStatus: 400,
			wantBody: `{"error":"ERR Upstash-Encoding base64 cannot be combined with Upstash-Response-Format resp2"}`},
		{name: "unknown format", path: "/", body: `["GET","k"]`, headers: []string{"Upstash-Response-Format", "resp3"}, wantStatus: 400,
			wantBody: `{"error":"ERR unsupported Upstash-Response-Format \"resp3\": json or resp2"}`},
	})
	if r := g.req("POST", "/", `["GET","k"]`, r2...); r.header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("resp2 content type %q", r.header.Get("Content-Type"))
	}
}
