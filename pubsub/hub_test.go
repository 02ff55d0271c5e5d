package pubsub_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/pubsub"
	"github.com/redisgate/redisgate/resp"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newHub(t *testing.T, rs *redistest.Server, f func(*pubsub.Options)) *pubsub.Hub {
	t.Helper()
	ro, err := pool.ParseURL(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	o := pubsub.Options{Redis: ro, Logger: slog.New(slog.DiscardHandler)}
	if f != nil {
		f(&o)
	}
	h := pubsub.NewHub(o)
	t.Cleanup(func() { h.Close() })
	return h
}

func subscribe(t *testing.T, h *pubsub.Hub, kind pubsub.Kind, names ...string) *pubsub.Subscription {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := h.Subscribe(ctx, kind, names...)
	if err != nil {
		t.Fatalf("subscribe %v: %v", names, err)
	}
	return s
}

// next waits for the next message of s.
func next(t *testing.T, s *pubsub.Subscription) *pubsub.Message {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		if ms := s.Take(nil); len(ms) > 0 {
			if len(ms) > 1 {
				t.Fatalf("got %d messages, want 1", len(ms))
			}
			return ms[0]
		}
		select {
		case <-s.Ready():
		case <-deadline:
			t.Fatal("no message within 5s")
		}
	}
}

func numsub(t *testing.T, rs *redistest.Server, channel string) int64 {
	t.Helper()
	return rs.MustDo("PUBSUB", "NUMSUB", channel).([]any)[1].(int64)
}

// eventually polls cond every 10 ms for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
	}
}

func TestChannelsAreSharedAndReferenceCounted(t *testing.T) {
	rs := redistest.Start(t)
	h := newHub(t, rs, nil)
	a := subscribe(t, h, pubsub.Channels, "news", "news", "sport")
	b := subscribe(t, h, pubsub.Channels, "news")
	if got := a.Names(); strings.Join(got, ",") != "news,sport" {
		t.Errorf("names %v, want duplicates removed", got)
	}
	if n := numsub(t, rs, "news"); n != 1 {
		t.Errorf("NUMSUB news = %d, want 1 (one Redis subscription for two subscribers)", n)
	}
	if n := rs.MustDo("PUBLISH", "news", "hello").(int64); n != 1 {
		t.Errorf("PUBLISH reached %d Redis subscribers, want 1", n)
	}
	for _, s := range []*pubsub.Subscription{a, b} {
		m := next(t, s)
		if string(m.Channel) != "news" || string(m.Payload) != "hello" || len(m.Pattern) != 0 {
			t.Errorf("got %q %q %q", m.Pattern, m.Channel, m.Payload)
		}
	}
	rs.MustDo("PUBLISH", "sport", "goal")
	if m := next(t, a); string(m.Payload) != "goal" {
		t.Errorf("got %q", m.Payload)
	}
	a.Close()
	a.Close() // idempotent
	eventually(t, "sport unsubscribed", func() bool { return numsub(t, rs, "sport") == 0 })
	if n := numsub(t, rs, "news"); n != 1 {
		t.Errorf("NUMSUB news = %d after one of two subscribers left, want 1", n)
	}
	b.Close()
	eventually(t, "news unsubscribed", func() bool { return numsub(t, rs, "news") == 0 })
	// Subscribing again after the last unsubscribe works.
	c := subscribe(t, h, pubsub.Channels, "news")
	defer c.Close()
	rs.MustDo("PUBLISH", "news", "again")
	if m := next(t, c); string(m.Payload) != "again" {
		t.Errorf("got %q", m.Payload)
	}
}

func TestPatterns(t *testing.T) {
	rs := redistest.Start(t)
	h := newHub(t, rs, nil)
	s := subscribe(t, h, pubsub.Patterns, "user.*")
	rs.MustDo("PUBLISH", "user.42", "x")
	m := next(t, s)
	if string(m.Pattern) != "user.*" || string(m.Channel) != "user.42" || string(m.Payload) != "x" {
		t.Errorf("got %q %q %q", m.Pattern, m.Channel, m.Payload)
	}
	s.Close()
	eventually(t, "pattern unsubscribed", func() bool { return rs.MustDo("PUBSUB", "NUMPAT").(int64) == 0 })
}

func TestSlowConsumerIsDropped(t *testing.T) {
	rs := redistest.Start(t)
	h := newHub(t, rs, func(o *pubsub.Options) { o.Buffer = 4 })
	slow := subscribe(t, h, pubsub.Channels, "c")
	fast := subscribe(t, h, pubsub.Channels, "c")
	defer fast.Close()
	var got []string
	for i := range 10 {
		rs.MustDo("PUBLISH", "c", fmt.Sprint(i))
		got = append(got, string(next(t, fast).Payload))
	}
	select {
	case <-slow.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("slow subscriber not dropped")
	}
	if !errors.Is(slow.Err(), pubsub.ErrSlowConsumer) {
		t.Errorf("Err = %v, want ErrSlowConsumer", slow.Err())
	}
	if ms := slow.Take(nil); len(ms) != 4 || string(ms[0].Payload) != "0" || string(ms[3].Payload) != "3" {
		t.Errorf("slow subscriber kept %d messages, want the first 4", len(ms))
	}
	if strings.Join(got, "") != "0123456789" {
		t.Errorf("fast subscriber got %v", got)
	}
	slow.Close()
	if n := numsub(t, rs, "c"); n != 1 {
		t.Errorf("NUMSUB = %d, want 1 while the fast subscriber stays", n)
	}
}

func TestByteBound(t *testing.T) {
	rs := redistest.Start(t)
	h := newHub(t, rs, func(o *pubsub.Options) { o.BufferBytes = 1000 })
	s := subscribe(t, h, pubsub.Channels, "c")
	big := strings.Repeat("x", 5000)
	rs.MustDo("PUBLISH", "c", big) // larger than the bound, but alone: queued
	rs.MustDo("PUBLISH", "c", "y") // over the bound behind it: dropped
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("subscriber over its byte bound not dropped")
	}
	if ms := s.Take(nil); len(ms) != 1 || len(ms[0].Payload) != 5000 {
		t.Errorf("kept %d messages", len(ms))
	}
	s.Close()
}

func TestReconnectResubscribes(t *testing.T) {
	rs := redistest.Start(t)
	h := newHub(t, rs, func(o *pubsub.Options) { o.PingInterval = 200 * time.Millisecond })
	ch := subscribe(t, h, pubsub.Channels, "c")
	defer ch.Close()
	pat := subscribe(t, h, pubsub.Patterns, "p*")
	defer pat.Close()
	rs.Restart()
	eventually(t, "resubscribed", func() bool {
		return numsub(t, rs, "c") == 1 && rs.MustDo("PUBSUB", "NUMPAT").(int64) == 1
	})
	rs.MustDo("PUBLISH", "c", "after")
	rs.MustDo("PUBLISH", "pq", "after")
	if m := next(t, ch); string(m.Payload) != "after" {
		t.Errorf("got %q", m.Payload)
	}
	if m := next(t, pat); string(m.Channel) != "pq" {
		t.Errorf("got %q", m.Channel)
	}
	select {
	case <-ch.Done():
		t.Errorf("subscription ended by the reconnect: %v", ch.Err())
	default:
	}
}

func TestSilentServerIsDetected(t *testing.T) {
	rs := redistest.Start(t)
	h := newHub(t, rs, func(o *pubsub.Options) {
		o.PingInterval = 100 * time.Millisecond
		o.Timeout = 100 * time.Millisecond
	})
	s := subscribe(t, h, pubsub.Channels, "c")
	defer s.Close()
	rs.Freeze()
	time.Sleep(500 * time.Millisecond) // the hub gives up on the frozen connection and redials
	rs.Thaw()
	eventually(t, "message after thaw", func() bool {
		return rs.MustDo("PUBLISH", "c", "x").(int64) == 1 && len(s.Take(nil)) > 0
	})
	// Redis is left with one pub/sub connection, the new one.
	eventually(t, "old connection gone", func() bool {
		list := rs.MustDo("CLIENT", "LIST", "TYPE", "pubsub").(string)
		return strings.Count(list, "\n") == 1
	})
}

func TestSubscribeWhileRedisIsDown(t *testing.T) {
	rs := redistest.Start(t)
	h := newHub(t, rs, nil)
	rs.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := h.Subscribe(ctx, pubsub.Channels, "c"); !errors.Is(err, pubsub.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
}

func TestACLRefusalFailsOnlyThatSubscription(t *testing.T) {
	rs := redistest.Start(t)
	rs.MustDo("ACL", "SETUSER", "limited", "on", ">secret-pw", "~*", "resetchannels", "&ok:*", "+@all")
	ro, err := pool.ParseURL("redis://limited:secret-pw@" + rs.Addr)
	if err != nil {
		t.Fatal(err)
	}
	h := pubsub.NewHub(pubsub.Options{Redis: ro, Logger: slog.New(slog.DiscardHandler)})
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = h.Subscribe(ctx, pubsub.Channels, "secret")
	var rerr *pubsub.RedisError
	if !errors.As(err, &rerr) || !strings.HasPrefix(rerr.Msg, "NOPERM") {
		t.Fatalf("err = %v, want a NOPERM RedisError", err)
	}
	s := subscribe(t, h, pubsub.Channels, "ok:1")
	defer s.Close()
	rs.MustDo("PUBLISH", "ok:1", "fine")
	if m := next(t, s); string(m.Payload) != "fine" {
		t.Errorf("got %q", m.Payload)
	}
}

func TestMonitor(t *testing.T) {
	rs := redistest.Start(t)
	h := newHub(t, rs, func(o *pubsub.Options) { o.MaxMonitors = 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := h.Monitor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Monitor(ctx); !errors.Is(err, pubsub.ErrTooManyMonitors) {
		t.Errorf("second monitor: err = %v, want ErrTooManyMonitors", err)
	}
	rs.MustDo("SET", "mon-key", "v")
	// Other lines (the hub's own handshake) may come first.
	var lines []string
	eventually(t, "SET seen by MONITOR", func() bool {
		for _, msg := range m.Take(nil) {
			lines = append(lines, string(msg.Payload))
		}
		return len(lines) > 0 && strings.Contains(lines[len(lines)-1], `"SET" "mon-key" "v"`)
	})
	m.Close()
	m2, err := h.Monitor(ctx) // the slot is free again
	if err != nil {
		t.Fatal(err)
	}
	rs.Kill()
	select {
	case <-m2.Done():
		if !errors.Is(m2.Err(), pubsub.ErrLost) {
			t.Errorf("Err = %v, want ErrLost", m2.Err())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("monitor not ended when Redis died")
	}
	m2.Close()
}

func TestCloseEndsSubscriptions(t *testing.T) {
	rs := redistest.Start(t)
	h := newHub(t, rs, nil)
	s := subscribe(t, h, pubsub.Channels, "c")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := h.Monitor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	for _, sub := range []*pubsub.Subscription{s, m} {
		select {
		case <-sub.Done():
		default:
			t.Fatalf("%v subscription still open after Close", sub.Kind())
		}
		if !errors.Is(sub.Err(), pubsub.ErrClosed) {
			t.Errorf("Err = %v, want ErrClosed", sub.Err())
		}
		sub.Close()
	}
	if _, err := h.Subscribe(ctx, pubsub.Channels, "c"); !errors.Is(err, pubsub.ErrClosed) {
		t.Errorf("subscribe after Close: %v", err)
	}
}

// TestRedialMovesSubscriptions moves a hub to another server: its channels are subscribed
// there, and no longer on the old one.
func TestRedialMovesSubscriptions(t *testing.T) {
	a, b := redistest.Start(t), redistest.Start(t)
	var target atomic.Value
	target.Store(a.Addr)
	h := newHub(t, a, func(o *pubsub.Options) { o.Redis.Resolve = func() string { return target.Load().(string) } })
	s := subscribe(t, h, pubsub.Channels, "news")
	defer s.Close()
	eventually(t, "subscribed on the first server", func() bool { return numsub(t, a, "news") == 1 })
	target.Store(b.Addr)
	h.Redial()
	eventually(t, "subscribed on the second server", func() bool { return numsub(t, b, "news") == 1 })
	eventually(t, "gone from the first server", func() bool { return numsub(t, a, "news") == 0 })
	b.MustDo("PUBLISH", "news", "moved")
	if m := next(t, s); string(m.Payload) != "moved" {
		t.Errorf("payload %q, want the message published on the new server", m.Payload)
	}
}

func TestMonitorShowsOnlyItsOwnDatabase(t *testing.T) {
	rs := redistest.Start(t)
	h := newHub(t, rs, func(o *pubsub.Options) { o.Redis.DB = 3 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := h.Monitor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// One connection moving between databases, as other tenants' would.
	c, err := net.DialTimeout("tcp", rs.Addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	cmds := [][]string{
		{"SELECT", "4"}, {"SET", "secret-of-db-4", "v4"}, {"EVAL", "return redis.call('get','secret-of-db-4')", "0"},
		{"SELECT", "0"}, {"SET", "secret-of-db-0", "v0"},
		{"SELECT", "3"}, {"SET", "mine", "v3"}, {"EVAL", "return redis.call('get','mine')", "0"},
	}
	var out []byte
	for _, cmd := range cmds {
		args := make([][]byte, len(cmd))
		for i, a := range cmd {
			args[i] = []byte(a)
		}
		out = resp.AppendCommand(out, args)
	}
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for range cmds {
		if _, err := resp.ReadReply(br, nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	var lines []string
	eventually(t, "the script's GET in database 3 seen by MONITOR", func() bool {
		for _, msg := range m.Take(nil) {
			lines = append(lines, string(msg.Payload))
		}
		return len(lines) > 0 && strings.Contains(lines[len(lines)-1], `[3 lua] "get" "mine"`)
	})
	for _, l := range lines {
		if strings.Contains(l, "secret") || !strings.Contains(l, " [3 ") {
			t.Errorf("database 3's MONITOR stream shows %q", l)
		}
	}
	if !strings.Contains(strings.Join(lines, "\n"), `"SET" "mine" "v3"`) {
		t.Errorf("own SET missing from %q", lines)
	}
}
