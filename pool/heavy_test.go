package pool_test

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/resp"
)

// pacedPeer accepts connections on loopback, answers handshake commands (CLIENT) with +OK and
// each other command with the parts given for its name (or for "*"), pausing for pause after
// each part but the last; a command with no parts given is answered +OK.
func pacedPeer(t *testing.T, pause time.Duration, answers map[string][]string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				br := bufio.NewReader(c)
				for {
					cmd, err := resp.ReadReply(br, nil, 0)
					if err != nil {
						return
					}
					_, _, _, rest, _ := resp.Next(cmd)
					_, name, _, _, _ := resp.Next(rest)
					parts, ok := answers[string(name)]
					if !ok {
						parts, ok = answers["*"]
					}
					if !ok || string(name) == "CLIENT" {
						parts = []string{"+OK\r\n"}
					}
					for i, p := range parts {
						if _, err := c.Write([]byte(p)); err != nil {
							return
						}
						if i < len(parts)-1 {
							time.Sleep(pause)
						}
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// bigBulk returns the parts of a bulk string reply of n bytes, split after its first half.
func bigBulk(n int) []string {
	body := strings.Repeat("x", n)
	head := "$" + strconv.Itoa(n) + "\r\n"
	return []string{head + body[:n/2], body[n/2:] + "\r\n"}
}

// TestTooLargeAnsweredBeforeTheDrain sends a GET whose 4 MiB answer passes MaxResponse (1 MiB)
// in its first half and whose second half the server sends only after a pause: the batch fails
// with ErrTooLarge at once, not when the rest has been read and discarded, and the connection
// stays in step for the next command.
func TestTooLargeAnsweredBeforeTheDrain(t *testing.T) {
	const pause = 3 * time.Second
	addr := pacedPeer(t, pause, map[string][]string{"GET": bigBulk(4 << 20), "PING": {"+PONG\r\n"}})
	p := pool.New(pool.Options{Addr: addr, Size: 1, MaxResponse: 1 << 20, Logger: slog.New(slog.DiscardHandler)})
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*pause)
	defer cancel()

	b := pool.NewBatch(1)
	b.Add([]byte("GET"), []byte("big"))
	start := time.Now()
	err := p.Do(ctx, b)
	took := time.Since(start)
	if !errors.Is(err, pool.ErrTooLarge) {
		t.Fatalf("GET of 4 MiB past MaxResponse 1 MiB: %v, want ErrTooLarge", err)
	}
	if took > pause/2 {
		t.Errorf("ErrTooLarge came after %v: the batch waited for the drain (the server paused %v mid-answer)", took, pause)
	}
	b.Release()

	// The same connection (Size 1) answers the next command once the rest is discarded.
	next := pool.NewBatch(1)
	next.Add([]byte("PING"))
	if err := p.Do(ctx, next); err != nil || string(next.Reply(0)) != "+PONG\r\n" {
		t.Fatalf("PING after the discarded answer: %v %q", err, next.Replies())
	}
	next.Release()
	if st := p.Stats(); st.InflightResponse != 0 {
		t.Errorf("reply bytes still charged after both batches: %d", st.InflightResponse)
	}
}

// TestHeavyConnectionPassedOver keeps one of two connections reading a large answer (2 MiB,
// within the limits, its second half sent after a pause): a PING sent meanwhile goes to the
// other connection and is answered at once instead of waiting behind it.
func TestHeavyConnectionPassedOver(t *testing.T) {
	const pause = 3 * time.Second
	addr := pacedPeer(t, pause, map[string][]string{"GET": bigBulk(2 << 20), "PING": {"+PONG\r\n"}})
	p := pool.New(pool.Options{Addr: addr, Size: 2, Logger: slog.New(slog.DiscardHandler)})
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*pause)
	defer cancel()

	got := make(chan error, 1)
	go func() {
		b := pool.NewBatch(1)
		b.Add([]byte("GET"), []byte("big"))
		err := p.Do(ctx, b)
		if err == nil && len(b.Reply(0)) != 2<<20+len("$2097152\r\n\r\n") {
			err = errors.New("wrong reply length")
		}
		b.Release()
		got <- err
	}()
	time.Sleep(pause / 3) // the first half (1 MiB) has been read: the connection is heavy
	b := pool.NewBatch(1)
	b.Add([]byte("PING"))
	start := time.Now()
	if err := p.Do(ctx, b); err != nil {
		t.Fatalf("PING: %v", err)
	}
	if took := time.Since(start); took > pause/3 {
		t.Errorf("PING answered after %v: it waited behind the large answer", took)
	}
	b.Release()
	if err := <-got; err != nil {
		t.Errorf("the large GET: %v", err)
	}
}
