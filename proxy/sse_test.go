package proxy_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/proxy"
	"github.com/redisgate/redisgate/pubsub"
	"github.com/redisgate/redisgate/resp"
	"github.com/redisgate/redisgate/script"
)

// sseStream is one SSE response read line by line over a raw connection.
type sseStream struct {
	t    testing.TB
	conn net.Conn
	res  *http.Response
	br   *bufio.Reader
}

// stream sends method path with token (none when empty), as the SDK does, and reads the response head.
func (g *gateway) stream(method, path, token string) *sseStream {
	g.t.Helper()
	s, err := g.openStream(method, path, token)
	if err != nil {
		g.t.Fatal(err)
	}
	return s
}

// openStream is stream for goroutines other than the test's.
func (g *gateway) openStream(method, path, token string) (*sseStream, error) {
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.url, "http://"))
	if err != nil {
		return nil, err
	}
	g.t.Cleanup(func() { conn.Close() })
	req := method + " " + path + " HTTP/1.1\r\nHost: gateway\r\nAccept: text/event-stream\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
	if token != "" {
		req += "Authorization: Bearer " + token + "\r\n"
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req+"\r\n[]"); err != nil {
		return nil, err
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return &sseStream{t: g.t, conn: conn, res: res, br: bufio.NewReader(res.Body)}, nil
}

// body reads the whole body of a response that is not a stream.
func (s *sseStream) body() string {
	s.t.Helper()
	b, err := io.ReadAll(s.res.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return string(b)
}

// line returns the next non-empty line, failing the test after timeout.
func (s *sseStream) line(timeout time.Duration) string {
	s.t.Helper()
	l, err := s.readLine(timeout)
	if err != nil {
		s.t.Fatalf("reading the stream: %v", err)
	}
	return l
}

func (s *sseStream) readLine(timeout time.Duration) (string, error) {
	s.conn.SetReadDeadline(time.Now().Add(timeout))
	for {
		l, err := s.br.ReadString('\n')
		if err != nil {
			return l, err
		}
		if l = strings.TrimSuffix(l, "\n"); l != "" {
			return l, nil
		}
	}
}

// data returns the next data line, skipping heartbeats.
func (s *sseStream) data() string {
	s.t.Helper()
	for {
		if l := s.line(5 * time.Second); !strings.HasPrefix(l, ":") {
			return l
		}
	}
}

// expect checks the next data lines.
func (s *sseStream) expect(want ...string) {
	s.t.Helper()
	for _, w := range want {
		if got := s.data(); got != w {
			s.t.Fatalf("got %q, want %q", got, w)
		}
	}
}

func (s *sseStream) close() { s.conn.Close() }

// streamGateway is a gateway with pub/sub and short heartbeats, so that streams of clients that left end quickly.
func streamGateway(t *testing.T, opts ...gatewayOption) *gateway {
	return startGateway(t, append([]gatewayOption{
		withPubSub(func(*pubsub.Options) {}),
		withOptions(func(o *proxy.Options) { o.StreamHeartbeat = 50 * time.Millisecond }),
	}, opts...)...)
}

func TestStreamSubscribe(t *testing.T) {
	g := streamGateway(t)
	s := g.stream("POST", "/subscribe/c1/c%2F2", rwToken)
	if s.res.StatusCode != 200 {
		t.Fatalf("status %d: %s", s.res.StatusCode, s.body())
	}
	for k, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"} {
		if got := s.res.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if s.res.Header.Get("Upstash-Sync-Token") == "" {
		t.Error("no Upstash-Sync-Token")
	}
	s.expect("data: subscribe,c1,1", "data: subscribe,c/2,2")
	g.req("POST", "/", `["PUBLISH","c1","hello, world"]`).expect(t, 200, `{"result":1}`)
	g.req("POST", "/", `["PUBLISH","c/2","{\"a\":1}"]`).expect(t, 200, `{"result":1}`)
	g.req("POST", "/", `["PUBLISH","other","nobody"]`).expect(t, 200, `{"result":0}`)
	g.req("POST", "/", `["PUBLISH","c1","two\r\nlines"]`).expect(t, 200, `{"result":1}`)
	g.req("POST", "/", `["PUBLISH","c1",""]`).expect(t, 200, `{"result":1}`)
	s.expect(
		"data: message,c1,hello, world",
		`data: message,c/2,{"a":1}`,
		`data: message,c1,"two\r\nlines"`,
		"data: message,c1,",
	)
}

func TestStreamPSubscribe(t *testing.T) {
	g := streamGateway(t)
	s := g.stream("GET", "/PSUBSCRIBE/news.*", rwToken)
	s.expect("data: psubscribe,news.*,1")
	g.req("POST", "/", `["PUBLISH","news.tech",42]`).expect(t, 200, `{"result":1}`)
	g.req("POST", "/", `["PUBLISH","news.a\nb","x"]`).expect(t, 200, `{"result":1}`)
	s.expect("data: pmessage,news.*,news.tech,42", `data: pmessage,news.*,"news.a\nb",x`)
}

func TestStreamsShareOneRedisSubscription(t *testing.T) {
	g := streamGateway(t)
	var streams []*sseStream
	for range 3 {
		s := g.stream("POST", "/subscribe/shared", rwToken)
		s.expect("data: subscribe,shared,1") // each stream counts its own subscriptions
		streams = append(streams, s)
	}
	if n := g.redis.MustDo("PUBSUB", "NUMSUB", "shared").([]any)[1].(int64); n != 1 {
		t.Errorf("NUMSUB = %d, want 1", n)
	}
	g.req("POST", "/", `["PUBLISH","shared","m"]`).expect(t, 200, `{"result":1}`)
	for _, s := range streams {
		s.expect("data: message,shared,m")
	}
}

func TestStreamClientDisconnectFreesEverything(t *testing.T) {
	g := streamGateway(t)
	// Warm up: the hub is connected and fasthttp has its workers.
	w := g.stream("POST", "/subscribe/warmup", rwToken)
	w.expect("data: subscribe,warmup,1")
	w.close()
	waitFor(t, "warm-up stream released", func() bool { return numsub(g, "warmup") == 0 })
	before := goleak.IgnoreCurrent()

	a := g.stream("POST", "/subscribe/c", rwToken)
	b := g.stream("POST", "/subscribe/c/d", roToken)
	p := g.stream("POST", "/psubscribe/c*", rwToken)
	a.expect("data: subscribe,c,1")
	b.expect("data: subscribe,c,1", "data: subscribe,d,2")
	p.expect("data: psubscribe,c*,1")
	if numsub(g, "c") != 1 || numsub(g, "d") != 1 || numpat(g) != 1 {
		t.Fatalf("NUMSUB c %d d %d NUMPAT %d, want 1 each", numsub(g, "c"), numsub(g, "d"), numpat(g))
	}
	a.close()
	b.close()
	p.close()
	waitFor(t, "Redis subscriptions released", func() bool {
		return numsub(g, "c") == 0 && numsub(g, "d") == 0 && numpat(g) == 0
	})
	if err := goleak.Find(before,
		// idle fasthttp workers, kept for the next connections
		goleak.IgnoreTopFunction("github.com/valyala/fasthttp.(*workerPool).workerFunc"),
	); err != nil {
		t.Errorf("goroutines left after the clients disconnected: %v", err)
	}
}

func TestStreamRequests(t *testing.T) {
	g := streamGateway(t)
	for _, tt := range []struct {
		name, method, path, token string
		wantStatus                int
		wantBody                  string
	}{
		{"no token", "POST", "/subscribe/c", "", 401, wrongpass},
		{"wrong token", "POST", "/subscribe/c", "wrong-wrong-wrong-wrong", 401, wrongpass},
		{"no channel", "POST", "/subscribe", rwToken, 400, `{"error":"ERR wrong number of arguments for 'subscribe' command"}`},
		{"no pattern", "POST", "/psubscribe", rwToken, 400, `{"error":"ERR wrong number of arguments for 'psubscribe' command"}`},
		{"monitor takes nothing", "POST", "/monitor/x", rwToken, 400, `{"error":"ERR wrong number of arguments for 'monitor' command"}`},
		{"LF in channel", "POST", "/subscribe/a%0Ab", rwToken, 400, `{"error":"ERR channel and pattern names must not contain CR or LF"}`},
		{"CR in pattern", "POST", "/psubscribe/a%0D*", rwToken, 400, `{"error":"ERR channel and pattern names must not contain CR or LF"}`},
		{"CR in second channel", "POST", "/subscribe/ok/a%0D", rwToken, 400, `{"error":"ERR channel and pattern names must not contain CR or LF"}`},
		{"bad escape", "POST", "/subscribe/a%zz", rwToken, 400, ""},
		{"PUT", "PUT", "/subscribe/c", rwToken, 405, `{"error":"ERR streams take GET or POST"}`},
		{"read-only token cannot monitor", "POST", "/monitor", roToken, 400, `{"error":"NOPERM this token is read-only and cannot run 'MONITOR'"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := g.stream(tt.method, tt.path, tt.token)
			body := s.body()
			if s.res.StatusCode != tt.wantStatus || (tt.wantBody != "" && body != tt.wantBody) {
				t.Errorf("got %d %s, want %d %s", s.res.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
			if ct := s.res.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want JSON", ct)
			}
		})
	}
	// The SUBSCRIBE family stays refused as a command.
	g.req("POST", "/", `["SUBSCRIBE","c"]`).expect(t, 400, `{"error":"ERR command 'SUBSCRIBE' is not supported by redisgate: use the /subscribe endpoint"}`)
}

func TestStreamWithoutHub(t *testing.T) {
	g := startGateway(t)
	s := g.stream("POST", "/subscribe/c", rwToken)
	if body := s.body(); s.res.StatusCode != 400 || body != `{"error":"ERR pub/sub is not enabled for this database"}` {
		t.Errorf("got %d %s", s.res.StatusCode, body)
	}
}

func TestStreamReadOnlyTokenSubscribes(t *testing.T) {
	g := streamGateway(t)
	s := g.stream("POST", "/subscribe/c", roToken)
	s.expect("data: subscribe,c,1")
	g.req("POST", "/", `["PUBLISH","c","ro"]`).expect(t, 200, `{"result":1}`)
	s.expect("data: message,c,ro")
}

func TestStreamMonitor(t *testing.T) {
	g := streamGateway(t)
	s := g.stream("POST", "/monitor", rwToken)
	s.expect(`data: "OK"`)
	g.req("POST", "/set/mon-key/v", "").expect(t, 200, `{"result":"OK"}`)
	for {
		l := s.data()
		if regexp.MustCompile(`^data: \d+\.\d+ \[0 127\.0\.0\.1:\d+\] "set" "mon-key" "v"$`).MatchString(l) {
			break
		}
		if !strings.HasPrefix(l, "data: ") {
			t.Fatalf("unexpected line %q", l)
		}
	}
	s.close()
	waitFor(t, "monitor connection closed", func() bool {
		return !strings.Contains(g.redis.MustDo("CLIENT", "LIST").(string), "name=redisgate-monitor")
	})
}

func TestStreamLimitPerToken(t *testing.T) {
	g := streamGateway(t, withOptions(func(o *proxy.Options) { o.MaxStreamsPerToken = 2 }))
	a := g.stream("POST", "/subscribe/a", rwToken)
	a.expect("data: subscribe,a,1")
	b := g.stream("POST", "/monitor", rwToken)
	b.expect(`data: "OK"`)
	over := g.stream("POST", "/subscribe/c", rwToken)
	if body := over.body(); over.res.StatusCode != 429 || body != `{"error":"ERR too many open streams for this token (limit 2)"}` {
		t.Errorf("third stream: %d %s", over.res.StatusCode, body)
	}
	// Another token has its own count.
	g.stream("POST", "/subscribe/c", roToken).expect("data: subscribe,c,1")
	// A stream whose client left frees its place.
	a.close()
	waitFor(t, "a stream slot freed", func() bool {
		s := g.stream("POST", "/subscribe/c", rwToken)
		defer s.close()
		return s.res.StatusCode == 200
	})
}

func TestStreamHeartbeat(t *testing.T) {
	g := streamGateway(t)
	s := g.stream("POST", "/subscribe/quiet", rwToken)
	s.expect("data: subscribe,quiet,1")
	start := time.Now()
	for range 3 {
		if l := s.line(time.Second); l != ": heartbeat" {
			t.Fatalf("got %q, want a heartbeat", l)
		}
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("3 heartbeats in %v, want them 50 ms apart", d)
	}
}

func TestStreamSlowConsumerIsDisconnected(t *testing.T) {
	g := streamGateway(t, withPubSub(func(o *pubsub.Options) { o.Buffer = 8 }))
	slow := g.stream("POST", "/subscribe/flood", rwToken)
	slow.expect("data: subscribe,flood,1")
	// The client reads nothing while 16 MiB are published: more than the socket buffers
	// and the stream's 8 queued messages hold.
	const n, size = 256, 64 << 10
	publish(t, g, "flood", n, -1, func(i int) string { return fmt.Sprintf("%04d:%s", i, strings.Repeat("x", size)) })
	waitFor(t, "slow stream unsubscribed", func() bool { return numsub(g, "flood") == 0 })
	// Now it reads: the messages sent before it fell behind, in order, then the final event, then the end.
	got := 0
	for {
		l, err := slow.readLine(5 * time.Second)
		if err != nil {
			t.Fatalf("after %d messages: %v", got, err)
		}
		if l == ": heartbeat" {
			// The stream was idle for a heartbeat while the publisher (on a loaded machine) paused.
			continue
		}
		if strings.HasPrefix(l, "data: error,") {
			if l != "data: error,flood,ERR slow consumer: too many messages waiting for this stream, it is closed" {
				t.Errorf("final event %q", l)
			}
			break
		}
		if want := fmt.Sprintf("data: message,flood,%04d:", got); !strings.HasPrefix(l, want) || len(l) != len(want)+size {
			t.Fatalf("message %d: got %.40q…", got, l)
		}
		got++
	}
	if _, err := slow.readLine(5 * time.Second); err != io.EOF {
		t.Errorf("after the final event: %v, want the end of the stream", err)
	}
	if got == 0 || got >= n {
		t.Errorf("slow client got %d of %d messages", got, n)
	}
	t.Logf("slow client got %d of %d messages before being disconnected", got, n)
}

func TestStreamEndsOnShutdown(t *testing.T) {
	g := streamGateway(t)
	s := g.stream("POST", "/subscribe/c", rwToken)
	s.expect("data: subscribe,c,1")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- g.srv.Shutdown(ctx)
	}()
	s.expect("data: error,c,ERR server shutting down")
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func TestStreamSurvivesRedisRestart(t *testing.T) {
	g := streamGateway(t)
	s := g.stream("POST", "/subscribe/c", rwToken)
	s.expect("data: subscribe,c,1")
	g.redis.Restart()
	// The hub redials and subscribes again; the stream stays open meanwhile.
	waitFor(t, "resubscribed", func() bool { return g.redis.MustDo("PUBLISH", "c", "back").(int64) == 1 })
	s.expect("data: message,c,back")
}

// TestThousandSubscribers opens 1,000 streams on one channel, publishes 1,000 messages and
// checks that every stream gets all of them in order while Redis sees one subscription connection.
func TestThousandSubscribers(t *testing.T) {
	const streams, messages = 1000, 1000
	g := streamGateway(t, withOptions(func(o *proxy.Options) {
		o.StreamHeartbeat = time.Second // streams of closed clients end at once (stream.watch)
		o.MaxStreamsPerToken = streams
	}))
	before := clientCount(t, g)
	start := time.Now()

	subs := make([]*sseStream, streams)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	errs := make(chan error, streams)
	for i := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			s, err := g.openStream("POST", "/subscribe/fanout", rwToken)
			if err != nil {
				errs <- fmt.Errorf("stream %d: %w", i, err)
				return
			}
			if l, err := s.readLine(10 * time.Second); err != nil || l != "data: subscribe,fanout,1" {
				errs <- fmt.Errorf("stream %d: %q %v", i, l, err)
			}
			subs[i] = s
		}()
	}
	wg.Wait()
	opened := time.Since(start)
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	pubsubConns := strings.Count(g.redis.MustDo("CLIENT", "LIST", "TYPE", "pubsub").(string), "\n")
	after := clientCount(t, g)
	if n := g.redis.MustDo("PUBSUB", "NUMSUB", "fanout").([]any)[1].(int64); n != 1 {
		t.Errorf("NUMSUB = %d, want 1", n)
	}
	if pubsubConns > 2 || after-before > 2 {
		t.Errorf("%d streams: %d pub/sub connections, %d → %d clients; want at most 2 connections for them", streams, pubsubConns, before, after)
	}

	pubStart := time.Now()
	publish(t, g, "fanout", messages, 1, func(i int) string { return fmt.Sprintf("m-%04d", i) })
	received := make([]int, streams)
	for i, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for received[i] < messages {
				l, err := s.readLine(20 * time.Second)
				if err != nil {
					errs <- fmt.Errorf("stream %d after %d messages: %v", i, received[i], err)
					return
				}
				if strings.HasPrefix(l, ":") {
					continue
				}
				if want := fmt.Sprintf("data: message,fanout,m-%04d", received[i]); l != want {
					errs <- fmt.Errorf("stream %d: got %q, want %q", i, l, want)
					return
				}
				received[i]++
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	total := 0
	for _, n := range received {
		total += n
	}
	t.Logf("%d streams opened in %v; Redis: %d pub/sub connection(s), clients %d before the streams, %d with them (pool %d + hub + this test's)",
		streams, opened.Round(time.Millisecond), pubsubConns, before, after, 2)
	t.Logf("%d messages published and %d events received (%d per stream, in order) in %v; total %v",
		messages, total, messages, time.Since(pubStart).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	for _, s := range subs {
		s.close()
	}
	waitFor(t, "1,000 streams released", func() bool { return numsub(g, "fanout") == 0 })
}

// publish publishes n messages to channel straight to Redis, pipelined; when wantReceivers >= 0
// every PUBLISH must reach that many Redis subscribers.
func publish(t *testing.T, g *gateway, channel string, n, wantReceivers int, msg func(int) string) {
	t.Helper()
	c, err := net.Dial("tcp", g.redis.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	done := make(chan error, 1)
	go func() {
		br := bufio.NewReader(c)
		for range n {
			r, err := resp.ReadReply(br, nil, 0)
			if err != nil {
				done <- err
				return
			}
			if want := ":" + strconv.Itoa(wantReceivers) + "\r\n"; wantReceivers >= 0 && string(r) != want {
				done <- fmt.Errorf("PUBLISH answered %q, want %q", r, want)
				return
			}
		}
		done <- nil
	}()
	bw := bufio.NewWriter(c)
	for i := range n {
		bw.Write(resp.AppendCommand(nil, [][]byte{[]byte("PUBLISH"), []byte(channel), []byte(msg(i))}))
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func numsub(g *gateway, channel string) int64 {
	return g.redis.MustDo("PUBSUB", "NUMSUB", channel).([]any)[1].(int64)
}

func numpat(g *gateway) int64 { return g.redis.MustDo("PUBSUB", "NUMPAT").(int64) }

// clientCount returns Redis's connected_clients, this query's connection included.
func clientCount(t *testing.T, g *gateway) int {
	t.Helper()
	m := regexp.MustCompile(`connected_clients:(\d+)`).FindStringSubmatch(g.redis.MustDo("INFO", "clients").(string))
	if m == nil {
		t.Fatal("no connected_clients in INFO")
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// waitFor polls cond every 10 ms for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
	}
}

func TestStreamEndsWhenItsTokenIsRevoked(t *testing.T) {
	g := streamGateway(t)
	kept := g.stream("POST", "/subscribe/c", roToken)
	kept.expect("data: subscribe,c,1")
	gone := g.stream("POST", "/subscribe/c", rwToken)
	gone.expect("data: subscribe,c,1")
	start := time.Now()
	err := g.srv.Reload(proxy.Access{Databases: []proxy.DatabaseAccess{{Name: "test", ReadOnlyTokens: []string{roToken}}}})
	if err != nil {
		t.Fatal(err)
	}
	gone.expect("data: error,c,WRONGPASS this stream's token was revoked")
	if _, err := gone.readLine(time.Second); err == nil {
		t.Error("the revoked stream went on after its final event")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("revoked stream ended after %v", d)
	}
	g.req("POST", "/", `["PUBLISH","c","still here"]`, "Authorization", "Bearer "+rwToken).expect(t, 401, `{"error":"WRONGPASS invalid or missing auth token"}`)
	g.redis.MustDo("PUBLISH", "c", "for the kept one")
	kept.expect("data: message,c,for the kept one")
	// A token whose access changes (here from read-only to read-write) loses its streams too.
	err = g.srv.Reload(proxy.Access{Databases: []proxy.DatabaseAccess{{Name: "test", Tokens: []string{roToken}}}})
	if err != nil {
		t.Fatal(err)
	}
	kept.expect("data: error,c,WRONGPASS this stream's token was revoked")
}

func TestStreamMonitorRefusedOnASharedServer(t *testing.T) {
	g := streamGateway(t, func(c *gatewayConfig) {
		c.database = append(c.database, func(db *proxy.Database, _ pool.Options) { db.Shared = true })
	})
	g.req("GET", "/monitor", "").expect(t, 400, `{"error":"ERR /monitor is not available for a database whose Redis server serves other databases too"}`)
}

func TestStreamChannelsAreNamespacedOnASharedServer(t *testing.T) {
	g := streamGateway(t, func(c *gatewayConfig) {
		c.database = append(c.database, func(db *proxy.Database, _ pool.Options) { db.Shared = true })
	})
	s := g.stream("GET", "/subscribe/news", rwToken)
	s.expect("data: subscribe,news,1")
	all := g.stream("GET", "/psubscribe/*", rwToken)
	all.expect("data: psubscribe,*,1")
	// Another database's tenant on the same server publishes to "news" and to "db1:news".
	g.redis.MustDo("PUBLISH", "news", "not yours")
	g.redis.MustDo("PUBLISH", "db1:news", "not yours either")
	g.req("POST", "/", `["PUBLISH","news","mine"]`).expect(t, 200, `{"result":2}`)
	s.expect("data: message,news,mine")
	all.expect("data: pmessage,*,news,mine")
	if n := g.redis.MustDo("PUBSUB", "NUMSUB", "db0:news").([]any)[1]; n != int64(1) {
		t.Errorf("Redis subscribers of db0:news: %v", n)
	}
	for _, tc := range []struct{ path, want string }{
		{"/subscribe/__keyspace@1__:k", `{"error":"ERR channel '__keyspace@1__:k' is not available through redisgate: names starting with __ are Redis's own"}`},
		{"/psubscribe/__key*", `{"error":"ERR`},
	} {
		if r := g.req("GET", tc.path, ""); r.status != 400 || !strings.HasPrefix(r.body, tc.want) {
			t.Errorf("%s: %d %s", tc.path, r.status, r.body)
		}
	}
	if r := g.req("POST", "/", `["PUBLISH","__redis__:invalidate","k"]`); r.status != 400 {
		t.Errorf("PUBLISH __redis__:invalidate: %d %s", r.status, r.body)
	}
	g.redis.MustDo("CONFIG", "SET", "notify-keyspace-events", "KA")
	ks := g.stream("GET", "/subscribe/__keyspace@0__:watched", rwToken)
	ks.expect("data: subscribe,__keyspace@0__:watched,1")
	g.req("GET", "/set/watched/1", "").expect(t, 200, `{"result":"OK"}`)
	ks.expect("data: message,__keyspace@0__:watched,set")
}

func TestScriptsAreNamespacedOnASharedServer(t *testing.T) {
	g := startGateway(t, func(c *gatewayConfig) {
		c.database = append(c.database, func(db *proxy.Database, _ pool.Options) { db.Shared = true })
	})
	// Another database of the server loaded a script; this one cannot see or run it by hash.
	theirs := g.redis.MustDo("SCRIPT", "LOAD", "return 'theirs'").(string)
	g.req("POST", "/", `["EVALSHA","`+theirs+`","0"]`).expect(t, 400, `{"error":"NOSCRIPT No matching script. Please use EVAL."}`)
	g.req("POST", "/", `["SCRIPT","EXISTS","`+theirs+`"]`).expect(t, 200, `{"result":[0]}`)
	g.req("POST", "/", `["EVAL","return 'mine'","0"]`).expect(t, 200, `{"result":"mine"}`)
	mine := script.Hash([]byte("return 'mine'"))
	g.req("POST", "/", `["SCRIPT","LOAD","return 'mine'"]`).expect(t, 200, `{"result":"`+mine+`"}`)
	g.req("POST", "/", `["EVALSHA","`+mine+`","0"]`).expect(t, 200, `{"result":"mine"}`)
	// SCRIPT FLUSH forgets this database's scripts only.
	g.req("POST", "/pipeline", `[["SCRIPT","FLUSH"],["EVALSHA","`+mine+`","0"]]`).expect(t, 200, `[{"result":"OK"},{"error":"NOSCRIPT No matching script. Please use EVAL."}]`)
	if n := g.redis.MustDo("SCRIPT", "EXISTS", theirs).([]any)[0]; n != int64(1) {
		t.Error("a database's SCRIPT FLUSH flushed another's script")
	}
	g.req("POST", "/multi-exec", `[["SCRIPT","FLUSH"]]`).expect(t, 400, `{"error":"ERR command 'SCRIPT FLUSH' is not supported by redisgate: inside /multi-exec on a server that serves other databases too, where the gateway answers it itself (command 0; transaction discarded)"}`)
}

func TestStreamPatternsDeliverNoOtherDatabasesNotifications(t *testing.T) {
	g := streamGateway(t)
	g.redis.MustDo("CONFIG", "SET", "notify-keyspace-events", "KEA")
	all := g.stream("GET", "/psubscribe/*", rwToken)
	all.expect("data: psubscribe,*,1")
	sneaky := g.stream("GET", "/psubscribe/[_]_keyspace@15__:*", rwToken)
	sneaky.expect("data: psubscribe,[_]_keyspace@15__:*,1")
	// The limiter's logical database (or any other) changes a key: its notification is not ours.
	g.redis.MustDo("EVAL", "redis.call('select', 15) return redis.call('set', 'limiter-key', '1')", "0")
	g.req("POST", "/", `["PUBLISH","plain","hello"]`).expect(t, 200, `{"result":1}`)
	all.expect("data: pmessage,*,plain,hello")
	g.redis.MustDo("EVAL", "redis.call('select', 15) return redis.call('set', 'limiter-key', '2')", "0")
	g.req("GET", "/set/own/1", "").expect(t, 200, `{"result":"OK"}`)
	all.expect("data: pmessage,*,__keyspace@0__:own,set", "data: pmessage,*,__keyevent@0__:set,own")
	sneaky.close()
}
