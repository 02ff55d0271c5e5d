package proxy_test

import (
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redisgate/redisgate/proxy"
)

// TestHostileInput sends requests an attacker would try and checks each answer, while a
// well-behaved client keeps working without errors or a latency spike.
func TestHostileInput(t *testing.T) {
	g := startGateway(t, withBlocking(1, time.Second), withOptions(func(o *proxy.Options) { o.MaxHeaderBytes = 4096 }))
	auth := "Authorization: Bearer " + rwToken + "\r\n"
	get := func(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n" }
	post := func(path, body string, headers ...string) string {
		return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\n%s%sContent-Length: %d\r\n\r\n%s", path, auth, strings.Join(headers, ""), len(body), body)
	}
	deep := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	cases := []struct {
		name, request, wantStatus, wantBody string // wantBody is a prefix
	}{
		{"headers too large", "GET /ping HTTP/1.1\r\nHost: x\r\n" + auth + "X-Junk: " + strings.Repeat("a", 8000) + "\r\n\r\n", "431", `{"error":"ERR request headers too large"}`},
		{"request line too long", "GET /echo/" + strings.Repeat("a", 6000) + " HTTP/1.1\r\nHost: x\r\n\r\n", "431", `{"error":"ERR request headers too large"}`},
		{"many headers", "GET /ping HTTP/1.1\r\nHost: x\r\n" + auth + strings.Repeat("X-A: b\r\n", 300) + "\r\n", "200", `{"result":"PONG"}`},
		{"declared body over the limit", "POST /set/k HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 99999999999\r\n\r\n", "413", `{"error":"ERR request body larger than`},
		{"bad chunked body", "POST /set/k HTTP/1.1\r\nHost: x\r\n" + auth + "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", "400", `{"error":"ERR malformed HTTP request"}`},
		{"garbage request line", "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n", "400", `{"error":"ERR malformed HTTP request"}`},
		{"unknown method", "BREW /ping HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", "405", `{"error":"ERR method BREW not allowed"}`},
		{"TRACE", "TRACE / HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", "405", `{"error":"ERR method TRACE not allowed"}`},
		{"no token", "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n", "401", `{"error":"WRONGPASS`},
		{"empty bearer", "GET /ping HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \r\n\r\n", "401", `{"error":"WRONGPASS`},
		{"basic auth", "GET /ping HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " + rwToken + "\r\n\r\n", "401", `{"error":"WRONGPASS`},
		{"huge token", "GET /ping HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + strings.Repeat("t", 3000) + "\r\n\r\n", "401", `{"error":"WRONGPASS`},
		{"wrong header, right query token", "GET /ping?_token=" + rwToken + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope-nope-nope-nope\r\n\r\n", "401", `{"error":"WRONGPASS`},
		{"token prefix", "GET /ping HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + rwToken[:len(rwToken)-1] + "\r\n\r\n", "401", `{"error":"WRONGPASS`},
		{"NUL in path argument", get("/echo/a%00b"), "200", `{"result":"a\u0000b"}`},
		{"CR LF in path argument", get("/echo/a%0D%0AHTTP%2F1.1%20200"), "200", `{"result":"a\r\nHTTP/1.1 200"}`},
		{"invalid UTF-8 in path", get("/echo/%ff%fe"), "200", `{"result":"\ufffd\ufffd"}`}, // escaped: the bytes are not UTF-8
		{"double encoding stays single-decoded", get("/echo/%252F"), "200", `{"result":"%2F"}`},
		{"dot-dot segments are arguments", get("/echo/..%2F..%2Fetc%2Fpasswd"), "200", `{"result":"../../etc/passwd"}`},
		{"truncated escape", get("/echo/abc%2"), "400", `{"error":"ERR invalid path: bad percent-encoding"}`},
		{"non-hex escape", get("/echo/%GG"), "400", `{"error":"ERR invalid path: bad percent-encoding"}`},
		{"empty command", get("//"), "400", `{"error":"ERR empty command"}`},
		{"too many path arguments", get("/" + strings.Repeat("a/", 1200) + "a"), "400", `{"error":"ERR too many: more than 1000 arguments"}`},
		{"deeply nested JSON", post("/", deep), "400", `{"error":"ERR argument 0: invalid JSON`},
		{"deeply nested pipeline", post("/pipeline", deep), "400", `{"error":"ERR command 0: argument 0: invalid JSON`},
		{"JSON null", post("/", "null"), "400", `{"error":"ERR invalid JSON at offset 0: expected '[' to start a command"}`},
		{"JSON object", post("/", `{"__proto__":1}`), "400", `{"error":"ERR invalid JSON at offset 0: a command is an array`},
		{"JSON with BOM", post("/", "\xef\xbb\xbf[\"PING\"]"), "400", `{"error":"ERR invalid JSON at offset 0`},
		{"JSON control character", post("/", "[\"ECHO\",\"a\x01b\"]"), "400", `{"error":"ERR argument 1: invalid JSON at offset 10: control character in string"}`},
		{"JSON lone surrogate", post("/", `["ECHO","\ud800"]`), "200", "{\"result\":\"\ufffd\"}"},
		{"JSON invalid UTF-8 kept", post("/", "[\"ECHO\",\"\xff\"]", "Upstash-Encoding: base64\r\n"), "200", `{"result":"/w=="}`},
		{"JSON huge number kept as text", post("/", `["ECHO",123456789012345678901234567890e99999]`), "200", `{"result":"123456789012345678901234567890e99999"}`},
		{"JSON leading zero", post("/", `["ECHO",01]`), "400", `{"error":"ERR invalid JSON at offset 9`},
		{"pipeline too long", post("/pipeline", "["+strings.Repeat(`["PING"],`, 200)+`["PING"]]`), "400", `{"error":"ERR too many: more than 100 commands"}`},
		{"pipeline of scalars", post("/pipeline", `["PING","PING"]`), "400", `{"error":"ERR command 0: invalid JSON`},
		{"empty POST /", post("/", ""), "400", `{"error":"ERR no command`},
		{"GET /pipeline", get("/pipeline"), "405", `{"error":"ERR /pipeline takes POST`},
		{"EXEC inside /multi-exec", post("/multi-exec", `[["SET","a","1"],["EXEC"]]`), "400", `{"error":"ERR command 'EXEC' is not supported by redisgate`},
		{"DEBUG SLEEP", post("/", `["DEBUG","SLEEP","10"]`), "400", `{"error":"ERR command 'DEBUG' is not supported`},
		{"CONFIG SET", post("/", `["config","set","requirepass","pwned"]`), "400", `{"error":"ERR command 'CONFIG' is not supported`},
		{"SHUTDOWN", get("/shutdown/nosave"), "400", `{"error":"ERR command 'SHUTDOWN' is not supported`},
		{"CLIENT KILL", post("/", `["CLIENT","KILL","TYPE","normal"]`), "400", `{"error":"ERR command 'CLIENT' is not supported`},
		{"MIGRATE", post("/", `["MIGRATE","10.0.0.1","6379","k","0","1000"]`), "400", `{"error":"ERR command 'MIGRATE' is not supported`},
		{"blocking forever is capped", post("/", `["BLPOP","nothing-here","0"]`), "200", `{"result":null}`},
		{"unknown response format", "GET /ping HTTP/1.1\r\nHost: x\r\n" + auth + "Upstash-Response-Format: xml\r\n\r\n", "400", `{"error":"ERR unsupported Upstash-Response-Format`},
		{"resp2 with base64", "GET /ping HTTP/1.1\r\nHost: x\r\n" + auth + "Upstash-Response-Format: resp2\r\nUpstash-Encoding: base64\r\n\r\n", "400", `{"error":"ERR Upstash-Encoding base64 cannot be combined`},
		{"multipart body is a plain value", post("/echo", "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--b--\r\n", "Content-Type: multipart/form-data; boundary=b\r\n"), "200", `{"result":"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--b--\r\n"}`},
		{"HTTP/1.0", "GET /ping HTTP/1.0\r\n" + auth + "\r\n", "200", `{"result":"PONG"}`},
	}
	if len(cases) < 40 {
		t.Fatalf("only %d hostile cases", len(cases))
	}

	// The well-behaved client: its latency before, then while the hostile requests run.
	measure := func(n int) ([]time.Duration, int) {
		var lat []time.Duration
		failures := 0
		for range n {
			start := time.Now()
			r := g.req("GET", "/ping", "")
			lat = append(lat, time.Since(start))
			if r.status != http.StatusOK {
				failures++
			}
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		return lat, failures
	}
	before, _ := measure(200)
	var during []time.Duration
	var failures int
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			l, f := measure(20)
			during = append(during, l...)
			failures += f
		}
	}()
	for _, tt := range cases {
		status, body := raw(t, g.url, tt.request)
		if !strings.HasPrefix(status, tt.wantStatus) || !strings.HasPrefix(body, tt.wantBody) {
			t.Errorf("%s: got %s %.200s, want %s %s…", tt.name, status, body, tt.wantStatus, tt.wantBody)
		}
	}
	close(stop)
	wg.Wait()
	sort.Slice(during, func(i, j int) bool { return during[i] < during[j] })
	mb, md := before[len(before)/2], during[len(during)/2]
	t.Logf("well-behaved client: median %v before, %v during %d hostile requests (%d samples)", mb, md, len(cases), len(during))
	if failures > 0 {
		t.Errorf("the well-behaved client saw %d failures", failures)
	}
	if md > 2*mb+time.Millisecond {
		t.Errorf("the well-behaved client's median latency went from %v to %v", mb, md)
	}
}

func TestMaxConnsPerIP(t *testing.T) {
	g := startGateway(t, withOptions(func(o *proxy.Options) { o.MaxConnsPerIP = 2 }))
	addr := strings.TrimPrefix(g.url, "http://")
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	time.Sleep(50 * time.Millisecond) // let the server accept both
	status, body := raw(t, g.url, "GET /ping HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+rwToken+"\r\n\r\n")
	if !strings.HasPrefix(status, "429") || body != `{"error":"ERR too many connections from this address"}` {
		t.Errorf("third connection: %s %s", status, body)
	}
	held[0].Close()
	time.Sleep(50 * time.Millisecond)
	if status, body := raw(t, g.url, "GET /ping HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+rwToken+"\r\n\r\n"); !strings.HasPrefix(status, "200") {
		t.Errorf("after one closed: %s %s", status, body)
	}
}
