package pool_test

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/resp"
)

// scriptedPeer accepts connections on loopback, answers each handshake command with +OK and
// then, for the first command after it, writes the parts given with a pause between them.
func scriptedPeer(t *testing.T, parts ...string) string {
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
					if string(name) == "CLIENT" {
						c.Write([]byte("+OK\r\n"))
						continue
					}
					for _, p := range parts {
						c.Write([]byte(p))
						time.Sleep(100 * time.Millisecond)
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestFailWhileReading drops a connection (Redial) while its reader is in the middle of a
// batch's reply: the batch fails as broken, once, and the pool redials.
func TestFailWhileReading(t *testing.T) {
	addr := scriptedPeer(t, "*2\r\n$5\r\nfirst\r\n$10\r\n01234", "56789\r\n")
	p := pool.New(pool.Options{Addr: addr, Size: 1, Logger: slog.New(slog.DiscardHandler), DialTimeout: 300 * time.Millisecond})
	defer p.Close()
	b := pool.NewBatch(1)
	b.Add([]byte("LRANGE"), []byte("l"), []byte("0"), []byte("-1"))
	go func() {
		time.Sleep(50 * time.Millisecond) // the reader holds half the reply
		p.Redial()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := p.Do(ctx, b); !errors.Is(err, pool.ErrBroken) {
		t.Fatalf("batch whose connection dropped mid-reply: %v, want ErrBroken", err)
	}
	b.Release()
	deadline := time.Now().Add(2 * time.Second)
	for p.Connected() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if st := p.Stats(); st.Connected != 1 || st.InflightResponse != 0 {
		t.Errorf("after the drop: %+v", st)
	}
}
