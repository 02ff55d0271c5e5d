package pubsub_test

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/pubsub"
	"github.com/redisgate/redisgate/resp"
)

// TestSubscriberConnectionAnsweringGarbage runs the hub against a scripted peer over
// net.Pipe whose first connections answer SUBSCRIBE with garbage (a confirmation of a
// channel nobody asked for, then a reply of an unknown type): the hub drops each, redials,
// and the subscription is confirmed and served by the first connection that behaves.
func TestSubscriberConnectionAnsweringGarbage(t *testing.T) {
	garbage := []string{
		"*3\r\n$9\r\nsubscribe\r\n$5\r\nother\r\n:1\r\n",
		"?what\r\n",
	}
	var dials atomic.Int32
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		near, far := net.Pipe()
		mu.Lock()
		conns = append(conns, far)
		mu.Unlock()
		n := int(dials.Add(1))
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer far.Close()
			br := bufio.NewReader(far)
			for {
				raw, err := resp.ReadReply(br, nil, 1<<16)
				if err != nil {
					return
				}
				_, _, _, rest, _ := resp.Next(raw)
				_, name, _, rest, _ := resp.Next(rest)
				reply := "+PONG\r\n"
				switch string(name) {
				case "CLIENT":
					reply = "+OK\r\n"
				case "SUBSCRIBE":
					_, ch, _, _, _ := resp.Next(rest)
					reply = "*3\r\n$9\r\nsubscribe\r\n$" + itoa(len(ch)) + "\r\n" + string(ch) + "\r\n:1\r\n" +
						"*3\r\n$7\r\nmessage\r\n$" + itoa(len(ch)) + "\r\n" + string(ch) + "\r\n$5\r\nhello\r\n"
					if n <= len(garbage) {
						reply = garbage[n-1]
					}
				}
				if _, err := far.Write([]byte(reply)); err != nil {
					return
				}
			}
		}()
		return near, nil
	}
	h := pubsub.NewHub(pubsub.Options{Redis: pool.Options{Addr: "peer:6379", Dialer: dial}, Logger: slog.New(slog.DiscardHandler)})
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := h.Subscribe(ctx, pubsub.Channels, "news")
	if err != nil {
		t.Fatalf("subscribe through connections answering garbage: %v", err)
	}
	defer s.Close()
	if m := next(t, s); string(m.Channel) != "news" || string(m.Payload) != "hello" {
		t.Errorf("message %q on %q, want hello on news", m.Payload, m.Channel)
	}
	if n := dials.Load(); n != int32(len(garbage))+1 {
		t.Errorf("%d dials, want %d: one per garbage answer, then the one that behaves", n, len(garbage)+1)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
