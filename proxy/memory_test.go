package proxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redisgate/redisgate/proxy"
	"github.com/redisgate/redisgate/ratelimit/clientip"
)

// conn is a raw HTTP/1.1 connection to the gateway.
type conn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialGateway(t *testing.T, g *gateway) *conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(g.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &conn{t: t, c: c, br: bufio.NewReader(c)}
}

func (c *conn) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.c, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// response reads one response and its body.
func (c *conn) response() (*http.Response, string) {
	c.t.Helper()
	res, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.t.Fatalf("reading response: %v", err)
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("reading body: %v", err)
	}
	return res, string(b)
}

// closed reports whether the server closes the connection within 2 s.
func (c *conn) closed() bool {
	c.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := io.Copy(io.Discard, c.br) // what a server says before it closes, if anything
	return err == nil
}

// TestUnauthenticatedBodyIsNotRead checks that a request without a valid token is answered
// from its headers alone: 401 before any byte of its announced body is sent, nothing
// buffered, no 100 Continue, and the connection closed.
func TestUnauthenticatedBodyIsNotRead(t *testing.T) {
	g := startGateway(t)
	for _, tt := range []struct{ name, headers string }{
		{"no token", ""},
		{"wrong token", "Authorization: Bearer not-the-token-0123456789\r\n"},
		{"wrong query token", ""},
		{"expect continue", "Expect: 100-continue\r\n"},
		{"chunked", "Transfer-Encoding: chunked\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := "/set/k"
			if tt.name == "wrong query token" {
				path += "?_token=not-the-token-0123456789"
			}
			framing := "Content-Length: 10000000\r\n"
			if tt.name == "chunked" {
				framing = ""
			}
			c := dialGateway(t, g)
			start := time.Now()
			c.send("POST " + path + " HTTP/1.1\r\nHost: x\r\n" + framing + tt.headers + "\r\n")
			res, body := c.response()
			if res.StatusCode != 401 || !strings.HasPrefix(body, `{"error":"WRONGPASS`) {
				t.Fatalf("got %d %s, want 401 WRONGPASS", res.StatusCode, body)
			}
			if !res.Close {
				t.Error("connection not closed after an unread body")
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("answered after %v", took)
			}
			if n := g.srv.BodyBytesInFlight(); n != 0 {
				t.Errorf("%d body bytes in flight", n)
			}
			if !c.closed() {
				t.Error("server kept the connection open")
			}
		})
	}
	// The token in the query opens the body too.
	c := dialGateway(t, g)
	c.send("POST /set/q?_token=" + rwToken + " HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nvalue")
	if res, body := c.response(); res.StatusCode != 200 || body != `{"result":"OK"}` {
		t.Fatalf("query token: %d %s", res.StatusCode, body)
	}
	g.req("GET", "/get/q", "").expect(t, 200, `{"result":"value"}`)
	// A client cannot send the header the gateway uses to mark a refused body.
	c.send("POST /set/r HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + rwToken + "\r\nRedisgate-Body-Refused: size\r\nContent-Length: 3\r\n\r\nabc")
	if res, body := c.response(); res.StatusCode != 200 {
		t.Fatalf("marker header from the client: %d %s", res.StatusCode, body)
	}
}

// TestExpectContinueOverMaxBody checks that an Expect: 100-continue request announcing
// more than the body limit is answered 413 at once, with no 100 Continue.
func TestExpectContinueOverMaxBody(t *testing.T) {
	g := startGateway(t) // --max-body 1 MiB
	c := dialGateway(t, g)
	c.send("POST /set/k HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + rwToken + "\r\nExpect: 100-continue\r\nContent-Length: 20000000\r\n\r\n")
	line, err := c.br.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(line, "HTTP/1.1 413 ") {
		t.Fatalf("first line %q, want 413", line)
	}
	res, body := c.responseAfterStatus(line)
	if body != `{"error":"ERR request body larger than 1048576 bytes"}` || !res.Close {
		t.Errorf("413 answer: %s (close %v)", body, res.Close)
	}

	// A chunked body has no length to judge from its headers: it is cut off past the limit.
	c = dialGateway(t, g)
	c.send("POST /set/k HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + rwToken + "\r\nTransfer-Encoding: chunked\r\n\r\n")
	// One byte over in one chunk, and nothing after it: all sent is read, so the close sends no reset.
	go io.WriteString(c.c, fmt.Sprintf("%x\r\n%s\r\n", 1<<20+1, strings.Repeat("c", 1<<20+1)))
	if res, body := c.response(); res.StatusCode != 413 || body != `{"error":"ERR request body larger than 1048576 bytes"}` || !res.Close {
		t.Errorf("chunked body over the limit: %d %s", res.StatusCode, body)
	}
	if n := g.srv.BodyBytesInFlight(); n != 0 {
		t.Errorf("%d body bytes in flight after the 413", n)
	}

	// Within the limit, the client gets its 100 Continue and then the answer.
	c = dialGateway(t, g)
	c.send("POST /set/k HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + rwToken + "\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	if line, _ := c.br.ReadString('\n'); !strings.HasPrefix(line, "HTTP/1.1 100 Continue") {
		t.Fatalf("got %q, want 100 Continue", line)
	}
	c.br.ReadString('\n') // the blank line ending the interim answer
	c.send("hello")
	if res, body := c.response(); res.StatusCode != 200 || body != `{"result":"OK"}` {
		t.Fatalf("after 100 Continue: %d %s", res.StatusCode, body)
	}
}

// responseAfterStatus reads the rest of a response whose status line was already read.
func (c *conn) responseAfterStatus(status string) (*http.Response, string) {
	c.t.Helper()
	res, err := http.ReadResponse(bufio.NewReader(io.MultiReader(strings.NewReader(status), c.br)), nil)
	if err != nil {
		c.t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// TestBodyMemoryFollowsBytesReceived checks that the memory held for a body grows with the
// bytes that arrived, not with the Content-Length announced, and is given back.
func TestBodyMemoryFollowsBytesReceived(t *testing.T) {
	g := startGateway(t) // --max-body 1 MiB
	const announced, sent = 1000000, 100000
	c := dialGateway(t, g)
	c.send(fmt.Sprintf("POST /set/big HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", rwToken, announced))
	c.send(strings.Repeat("a", sent))
	var held int64
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if held = g.srv.BodyBytesInFlight(); held >= sent {
			break
		}
	}
	if held < sent || held > 2*sent+8<<10 {
		t.Fatalf("%d body bytes in flight after %d of %d received, want between %d and %d", held, sent, announced, sent, 2*sent+8<<10)
	}
	time.Sleep(50 * time.Millisecond)
	if again := g.srv.BodyBytesInFlight(); again != held {
		t.Errorf("body memory moved from %d to %d with no bytes received", held, again)
	}
	c.send(strings.Repeat("b", announced-sent))
	if res, body := c.response(); res.StatusCode != 200 {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	if n := g.srv.BodyBytesInFlight(); n != 0 {
		t.Errorf("%d body bytes in flight after the answer", n)
	}
	if r := g.req("POST", "/", `["STRLEN","big"]`); r.body != fmt.Sprintf(`{"result":%d}`, announced) {
		t.Errorf("STRLEN big: %s", r.body)
	}
}

// TestInflightBodyBudget checks that bodies that would take the body memory in flight past
// MaxInflightBody wait for it, then get 503, while small requests keep being served.
func TestInflightBodyBudget(t *testing.T) {
	g := startGateway(t, withOptions(func(o *proxy.Options) {
		o.MaxInflightBody = 256 << 10
		o.InflightBodyWait = 300 * time.Millisecond
	}))
	post := func(key string, n int) string {
		return fmt.Sprintf("POST /set/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", key, rwToken, n)
	}
	// holder sends most of a 250,000-byte body and keeps the rest.
	holder := func() *conn {
		c := dialGateway(t, g)
		c.send(post("held", 250000))
		c.send(strings.Repeat("h", 200000))
		for deadline := time.Now().Add(5 * time.Second); g.srv.BodyBytesInFlight() < 200000; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("holder's body not read: %d in flight", g.srv.BodyBytesInFlight())
			}
		}
		return c
	}
	a := holder()
	b := dialGateway(t, g)
	start := time.Now()
	b.send(post("second", 100000) + strings.Repeat("s", 100000))
	res, body := b.response()
	if res.StatusCode != 503 || body != `{"error":"ERR too much request body in flight: retry later"}` || res.Header.Get("Retry-After") != "1" || !res.Close {
		t.Fatalf("second body: %d %s %v", res.StatusCode, body, res.Header)
	}
	if took := time.Since(start); took < 250*time.Millisecond || took > 2*time.Second {
		t.Errorf("503 after %v, want about the 300ms wait", took)
	}
	// Small bodies are not held up.
	g.req("POST", "/set/small", "value").expect(t, 200, `{"result":"OK"}`)
	a.send(strings.Repeat("h", 50000))
	if res, body := a.response(); res.StatusCode != 200 {
		t.Fatalf("holder: %d %s", res.StatusCode, body)
	}

	// A body that waits gets through once the holder is done within the wait.
	a = holder()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-done
		time.Sleep(100 * time.Millisecond)
		a.c.Write([]byte(strings.Repeat("h", 50000)))
	}()
	b = dialGateway(t, g)
	b.send(post("second", 100000) + strings.Repeat("s", 100000))
	close(done)
	if res, body := b.response(); res.StatusCode != 200 {
		t.Fatalf("waiting body: %d %s", res.StatusCode, body)
	}
	wg.Wait()
	if res, _ := a.response(); res.StatusCode != 200 {
		t.Fatalf("holder: %d", res.StatusCode)
	}
	if n := g.srv.BodyBytesInFlight(); n != 0 {
		t.Errorf("%d body bytes in flight at the end", n)
	}
}

// TestSlowHeadersAreCutOff checks that a client trickling its headers (slowloris) is cut
// off after HeaderTimeout, however long ReadTimeout is, and that a connection sending
// nothing is too.
func TestSlowHeadersAreCutOff(t *testing.T) {
	g := startGateway(t, withOptions(func(o *proxy.Options) {
		o.HeaderTimeout = 300 * time.Millisecond
		o.ReadTimeout = 5 * time.Second
	}))
	c := dialGateway(t, g)
	start := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		msg := "GET /ping HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + rwToken + "\r\n" + strings.Repeat("X-Slow: yes\r\n", 100)
		for i := range len(msg) {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := c.c.Write([]byte{msg[i]}); err != nil {
				return
			}
		}
	}()
	res, body := c.response()
	close(stop)
	wg.Wait()
	if res.StatusCode != 408 || body != `{"error":"ERR request not received in time"}` {
		t.Errorf("slow headers: %d %s", res.StatusCode, body)
	}
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("slow headers cut off after %v, want about 300ms", took)
	}
	if !c.closed() {
		t.Error("connection kept open")
	}

	// A connection that sends nothing is closed as well.
	c = dialGateway(t, g)
	start = time.Now()
	if !c.closed() {
		t.Error("silent connection kept open")
	}
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("silent connection closed after %v", took)
	}

	// A body may take ReadTimeout, longer than HeaderTimeout.
	c = dialGateway(t, g)
	c.send("POST /set/slow HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + rwToken + "\r\nContent-Length: 4\r\n\r\nab")
	time.Sleep(600 * time.Millisecond)
	c.send("cd")
	if res, body := c.response(); res.StatusCode != 200 {
		t.Errorf("slow body within ReadTimeout: %d %s", res.StatusCode, body)
	}
}

// TestBlockingWaitIsUnavailable checks the status of blocking requests that waited for a
// dedicated connection: one whose deadline passes while it waits gets 503 (not sent, safe
// to retry), and one that gets a connection in time is not cut short by the wait.
func TestBlockingWaitIsUnavailable(t *testing.T) {
	g := startGateway(t, withBlocking(1, time.Second), withOptions(func(o *proxy.Options) { o.CommandTimeout = 300 * time.Millisecond }))
	var wg sync.WaitGroup
	var holder, queued response
	wg.Add(2)
	go func() {
		defer wg.Done()
		holder = g.req("POST", "/", `["BLPOP","a",0]`) // capped at 1s: holds the only connection
	}()
	time.Sleep(100 * time.Millisecond)
	go func() {
		defer wg.Done()
		queued = g.req("POST", "/", `["BLPOP","b",0]`) // deadline 1.3s from now; the connection frees at 0.9s
	}()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	short := g.req("POST", "/", `["BLPOP","c","0.1"]`) // deadline 0.4s: passes while it waits
	if short.status != 503 || !strings.Contains(short.body, "blocking connections busy") {
		t.Errorf("request whose deadline passed waiting: %d %s", short.status, short.body)
	}
	if took := time.Since(start); took > 800*time.Millisecond {
		t.Errorf("503 after %v, want about 400ms", took)
	}
	wg.Wait()
	holder.expect(t, 200, `{"result":null}`)
	queued.expect(t, 200, `{"result":null}`)
}

// TestConnectionCaps checks the cap on connections in all (JSON 503) and that trusted
// proxies, which carry many clients, are exempt from the per-IP cap (JSON 429).
func TestConnectionCaps(t *testing.T) {
	proxies, err := clientip.ParseProxies("127.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name       string
		set        func(*proxy.Options)
		wantStatus string
		wantBody   string
	}{
		{"overall", func(o *proxy.Options) { o.MaxConns = 2 }, "503", `{"error":"ERR too many connections to the gateway"}`},
		{"per IP", func(o *proxy.Options) { o.MaxConnsPerIP = 2 }, "429", `{"error":"ERR too many connections from this address"}`},
		{"trusted proxy exempt from per IP", func(o *proxy.Options) { o.MaxConnsPerIP = 2; o.Proxies = proxies }, "200", `{"result":"PONG"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := startGateway(t, withOptions(tt.set))
			for range 2 {
				dialGateway(t, g)
			}
			time.Sleep(50 * time.Millisecond) // let the server accept both
			status, body := raw(t, g.url, "GET /ping HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+rwToken+"\r\n\r\n")
			if !strings.HasPrefix(status, tt.wantStatus) || body != tt.wantBody {
				t.Errorf("third connection: %s %s, want %s %s", status, body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}
