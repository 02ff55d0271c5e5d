package respserver_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestGoRedisPubSub: go-redis subscribers (channels and patterns, RESP2 and RESP3) get the
// messages published through the listener and by Redis directly, in order, and stop getting
// those of what they unsubscribed.
func TestGoRedisPubSub(t *testing.T) {
	eachProtocol(t, func(t *testing.T, l *listener, c *redis.Client) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		sub := c.Subscribe(ctx, "news", "sport")
		defer sub.Close()
		if err := sub.PSubscribe(ctx, "h*llo"); err != nil {
			t.Fatal(err)
		}
		for range 3 { // the confirmations
			if _, err := sub.Receive(ctx); err != nil {
				t.Fatal(err)
			}
		}
		pub := l.client(rwToken)
		for i := range 100 {
			if err := pub.Publish(ctx, "news", fmt.Sprint("n", i)).Err(); err != nil {
				t.Fatal(err)
			}
		}
		l.redis.MustDo("PUBLISH", "hello", "direct")
		for i := range 100 {
			m, err := sub.ReceiveMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if m.Channel != "news" || m.Payload != fmt.Sprint("n", i) {
				t.Fatalf("message %d: %+v", i, m)
			}
		}
		m, err := sub.ReceiveMessage(ctx)
		if err != nil || m.Pattern != "h*llo" || m.Channel != "hello" || m.Payload != "direct" {
			t.Fatalf("pattern message: %+v %v", m, err)
		}
		if err := sub.Unsubscribe(ctx, "news"); err != nil {
			t.Fatal(err)
		}
		if n, err := pub.Publish(ctx, "news", "gone").Result(); err != nil {
			t.Fatal(err)
		} else {
			t.Logf("PUBLISH after UNSUBSCRIBE: %d Redis subscribers (the hub's subscription may linger)", n)
		}
		pub.Publish(ctx, "sport", "goal")
		for {
			msg, err := sub.Receive(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if m, ok := msg.(*redis.Message); ok {
				if m.Channel != "sport" || m.Payload != "goal" {
					t.Fatalf("after UNSUBSCRIBE news: %+v", m)
				}
				break
			}
		}
	})
}

// TestSubscriberModeRESP2: in RESP2 a subscribed connection takes only the subscriber
// commands, PING (answered ["pong", ""]), QUIT and RESET, until it unsubscribes from all.
func TestSubscriberModeRESP2(t *testing.T) {
	l := start(t)
	r := l.raw(t)
	r.send("AUTH " + rwToken + "\r\nSUBSCRIBE a b\r\n")
	if got := strings.Join(readN(r, 1+12), " "); got != "+OK *3 $9 subscribe $1 a :1 *3 $9 subscribe $1 b :2" {
		t.Fatalf("SUBSCRIBE: %s", got)
	}
	r.send("GET x\r\nPING\r\nPING hi\r\n")
	if got := r.line(); !strings.HasPrefix(got, "-ERR Can't execute 'get': only (P|S)SUBSCRIBE") {
		t.Errorf("GET in subscriber mode: %s", got)
	}
	if got := strings.Join(readN(r, 5+5), " "); got != "*2 $4 pong $0  *2 $4 pong $2 hi" {
		t.Errorf("PING in subscriber mode: %s", got)
	}
	r.send("UNSUBSCRIBE\r\n")
	got := strings.Join(readN(r, 12), " ")
	if !strings.Contains(got, "unsubscribe $1 a") || !strings.Contains(got, "unsubscribe $1 b") || !strings.HasSuffix(got, ":0") {
		t.Errorf("UNSUBSCRIBE: %s", got)
	}
	r.send("UNSUBSCRIBE\r\nGET x\r\nPING\r\n")
	if got := strings.Join(readN(r, 5+1+1), " "); got != "*3 $11 unsubscribe $-1 :0 $-1 +PONG" {
		t.Errorf("after unsubscribing from all: %s", got)
	}
}

// TestPushMessagesRESP3: in RESP3 a subscriber gets messages as pushes and runs any command
// meanwhile.
func TestPushMessagesRESP3(t *testing.T) {
	l := start(t)
	r := l.raw(t)
	r.send("HELLO 3 AUTH default " + rwToken + "\r\n")
	for !strings.HasPrefix(r.line(), "*0") { // the end of HELLO's map: modules
	}
	r.send("SUBSCRIBE a\r\n")
	if got := strings.Join(readN(r, 6), " "); got != ">3 $9 subscribe $1 a :1" {
		t.Fatalf("SUBSCRIBE: %s", got)
	}
	r.send("SET k v\r\n")
	if got := r.line(); got != "+OK" {
		t.Fatalf("SET while subscribed: %s", got)
	}
	l.redis.MustDo("PUBLISH", "a", "m1")
	if got := strings.Join(readN(r, 7), " "); got != ">3 $7 message $1 a $2 m1" {
		t.Errorf("push: %s", got)
	}
	r.send("GET k\r\n")
	if got := strings.Join(readN(r, 2), " "); got != "$1 v" {
		t.Errorf("GET while subscribed: %s", got)
	}
}

// TestSubscribersSeeOnlyTheirDatabase: a tenant cannot subscribe to Redis's own channels nor
// another database's notifications, and a pattern that matches them delivers only its own
// database's.
func TestSubscribersSeeOnlyTheirDatabase(t *testing.T) {
	l := start(t)
	l.redis.MustDo("CONFIG", "SET", "notify-keyspace-events", "KEA")
	c := l.client(rwToken)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, ch := range []string{"__redis__:invalidate", "__keyspace@1__:k", "__keyevent@5__:set"} {
		sub := c.Subscribe(ctx, ch)
		if _, err := sub.Receive(ctx); err == nil {
			t.Errorf("SUBSCRIBE %s was allowed", ch)
		}
		sub.Close()
	}
	sub := c.PSubscribe(ctx, "*")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	other := redis.NewClient(&redis.Options{Addr: l.redis.Addr, DB: 1})
	defer other.Close()
	other.Set(ctx, "theirs", "v", 0) // notifications of database 1
	c.Set(ctx, "mine", "v", 0)       // notifications of database 0
	want := map[string]bool{"__keyspace@0__:mine": true, "__keyevent@0__:set": true}
	for len(want) > 0 {
		m, err := sub.ReceiveMessage(ctx)
		if err != nil {
			t.Fatalf("waiting for %v: %v", want, err)
		}
		if !want[m.Channel] {
			t.Fatalf("a message of channel %q reached the tenant of database 0", m.Channel)
		}
		delete(want, m.Channel)
	}
}

// TestSlowSubscriberIsDisconnected: a subscriber that does not read is disconnected once its
// bounded queue is full, and the others go on.
func TestSlowSubscriberIsDisconnected(t *testing.T) {
	l := start(t, func(s *setup) { s.hubBuffer = 16; s.resp.WriteTimeout = 500 * time.Millisecond })
	slow := l.raw(t)
	slow.send("AUTH " + rwToken + "\r\nSUBSCRIBE flood\r\n")
	readN(slow, 1+6)
	c := l.client(rwToken)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	payload := strings.Repeat("x", 64<<10)
	before := l.srv.Conns()
	for i := 0; l.srv.Conns() == before; i++ {
		if ctx.Err() != nil || i > 20000 {
			t.Fatalf("the slow subscriber is still connected after %d messages of 64 KiB", i)
		}
		c.Publish(ctx, "flood", payload)
	}
	slow.nc.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := io.Copy(io.Discard, slow.br); err != nil {
		t.Logf("slow subscriber's connection: %v", err)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Errorf("another client after the slow subscriber left: %v", err)
	}
}

// TestMonitor: MONITOR shows a read-write token its own database's commands only; a
// read-only token is refused.
func TestMonitor(t *testing.T) {
	l := start(t)
	ro := l.raw(t)
	ro.send("AUTH " + roToken + "\r\nMONITOR\r\n")
	ro.line()
	if got := ro.line(); !strings.HasPrefix(got, "-NOPERM") {
		t.Errorf("MONITOR with a read-only token: %s", got)
	}
	m := l.raw(t)
	m.send("AUTH " + rwToken + "\r\nMONITOR\r\n")
	if got := m.line() + m.line(); got != "+OK+OK" {
		t.Fatalf("MONITOR: %s", got)
	}
	m.send("GET x\r\n")
	if got := m.line(); !strings.Contains(got, "only QUIT and RESET") {
		t.Errorf("a command after MONITOR: %s", got)
	}
	ctx := context.Background()
	other := redis.NewClient(&redis.Options{Addr: l.redis.Addr, DB: 3})
	defer other.Close()
	other.Set(ctx, "other-db-key", "secret", 0)
	c := l.client(rwToken)
	c.Set(ctx, "own-key", "v", 0)
	for {
		got := m.line()
		if strings.Contains(got, "other-db-key") {
			t.Fatalf("MONITOR showed another database's command: %s", got)
		}
		if strings.Contains(got, `"own-key"`) {
			break
		}
	}
	m.send("RESET\r\nPING\r\n")
	if got := m.line() + m.line(); got != "+RESET-NOAUTH Authentication required." {
		// Lines of the monitor stream may come before RESET's reply.
		if !strings.Contains(got, "+RESET") {
			t.Errorf("RESET after MONITOR: %s", got)
		}
	}
}

// readN reads n reply lines.
func readN(r *raw, n int) []string {
	r.t.Helper()
	out := make([]string, n)
	for i := range out {
		out[i] = r.line()
	}
	return out
}

// TestSharedServerChannelsAreNamespaced: two databases on one Redis server (logical 1 and 2)
// never see each other's channels, whatever they subscribe to, and see their own under the
// names they gave; MONITOR, which would show the other database's clients, is refused.
func TestSharedServerChannelsAreNamespaced(t *testing.T) {
	l := start(t, func(s *setup) { s.shared = true })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, b := l.client(rwToken), l.client(otherToken)
	subA := a.Subscribe(ctx, "news")
	defer subA.Close()
	if err := subA.PSubscribe(ctx, "*"); err != nil {
		t.Fatal(err)
	}
	subB := b.Subscribe(ctx, "news")
	defer subB.Close()
	for _, s := range []*redis.PubSub{subA, subA, subB} {
		if _, err := s.Receive(ctx); err != nil {
			t.Fatal(err)
		}
	}
	b.Publish(ctx, "news", "from b")
	a.Publish(ctx, "news", "from a")
	// B published first: a leak would come before A's own two (the channel's and the
	// pattern's, in either order).
	want := map[string]bool{"news:from a": true, "*:news:from a": true}
	for len(want) > 0 {
		m, err := subA.ReceiveMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := m.Channel + ":" + m.Payload
		if m.Pattern != "" {
			got = m.Pattern + ":" + got
		}
		if !want[got] {
			t.Fatalf("database 1 received %q: another database's message, or a namespaced name", got)
		}
		delete(want, got)
	}
	if m, err := subB.ReceiveMessage(ctx); err != nil || m.Payload != "from b" || m.Channel != "news" {
		t.Fatalf("database 2 received %+v %v", m, err)
	}
	r := l.raw(t)
	r.send("AUTH " + rwToken + "\r\nMONITOR\r\n")
	r.line()
	if got := r.line(); !strings.Contains(got, "serves other databases") {
		t.Errorf("MONITOR on a shared server: %s", got)
	}
}

// TestShutdownEndsSubscribersAndPins: subscribed, monitoring and WATCHing clients, which wait
// without an idle timeout or hold a pinned connection, do not hold Shutdown up; their pinned
// connection is given back.
func TestShutdownEndsSubscribersAndPins(t *testing.T) {
	l := start(t)
	s, m, w := l.raw(t), l.raw(t), l.raw(t)
	s.send("AUTH " + rwToken + "\r\nSUBSCRIBE a\r\n")
	readN(s, 1+6)
	m.send("AUTH " + rwToken + "\r\nMONITOR\r\n")
	readN(m, 2)
	w.send("AUTH " + rwToken + "\r\nWATCH k\r\n")
	readN(w, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := l.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Shutdown took %v", d)
	}
	if n := l.srv.Conns(); n != 0 {
		t.Errorf("%d connections left", n)
	}
	for _, r := range []*raw{s, m, w} {
		r.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.Copy(io.Discard, r.br); err != nil {
			t.Errorf("a client's connection after Shutdown: %v, want it closed", err)
		}
	}
	list := fmt.Sprint(l.redis.MustDo("CLIENT", "LIST"))
	if strings.Contains(list, "-pinned") && strings.Contains(list, "cmd=watch") {
		t.Errorf("a pinned connection still holds a WATCH after Shutdown:\n%s", list)
	}
}

// TestSubscriptionsAreBoundedPerToken: each SUBSCRIBE of new names is one of the token's
// streams (and one goroutine of the gateway): past MaxStreamsPerToken a clear error, on any
// connection of the token; UNSUBSCRIBE gives them back.
func TestSubscriptionsAreBoundedPerToken(t *testing.T) {
	l := start(t, func(s *setup) { s.proxy.MaxStreamsPerToken = 3 })
	a, b := l.raw(t), l.raw(t)
	a.send("HELLO 3 AUTH default " + rwToken + "\r\n")
	for !strings.HasPrefix(a.line(), "*0") {
	}
	b.send("AUTH " + rwToken + "\r\n")
	b.line()
	a.send("SUBSCRIBE c1\r\nSUBSCRIBE c2 c3\r\nSUBSCRIBE c1\r\n") // the last one adds nothing
	readN(a, 6*4)
	b.send("SUBSCRIBE x\r\n")
	readN(b, 6)
	b.send("PSUBSCRIBE y*\r\n")
	if got := b.line(); !strings.Contains(got, "too many open subscriptions for this token (limit 3)") {
		t.Fatalf("a fourth subscription of the token: %s", got)
	}
	a.send("UNSUBSCRIBE c2 c3\r\n") // ends the second SUBSCRIBE's stream
	readN(a, 12)
	b.send("PSUBSCRIBE y*\r\n")
	if got := strings.Join(readN(b, 6), " "); got != "*3 $10 psubscribe $2 y* :2" {
		t.Errorf("after the token's streams went down: %s", got)
	}
}

// TestHelloWhileSubscribed: a RESP3 subscriber switching to RESP2 with messages under way
// gets its next messages as arrays. (The switch is made under the lock of the goroutines
// writing messages; this timing seldom makes the race detector see it without the lock.)
func TestHelloWhileSubscribed(t *testing.T) {
	l := start(t)
	r := l.raw(t)
	r.send("HELLO 3 AUTH default " + rwToken + "\r\n")
	for !strings.HasPrefix(r.line(), "*0") {
	}
	r.send("SUBSCRIBE a\r\n")
	readN(r, 6)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 50 {
			l.redis.MustDo("PUBLISH", "a", "m")
		}
	}()
	r.send("HELLO 2\r\n")
	<-done
	l.redis.MustDo("PUBLISH", "a", "last")
	for {
		line := r.line()
		if line == "last" {
			break
		}
	}
	l.redis.MustDo("PUBLISH", "a", "after")
	if got := strings.Join(readN(r, 7), " "); got != "*3 $7 message $1 a $5 after" {
		t.Errorf("a message after HELLO 2: %s", got)
	}
}
