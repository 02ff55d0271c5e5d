package cache

import (
	"bufio"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/resp"
)

// pipeInval opens an invalidation connection to a scripted peer over net.Pipe, which answers
// the handshake, CLIENT ID and SUBSCRIBE and then runs script with each later command read
// (PINGs); the reader's invalidated keys go to keys.
func pipeInval(t *testing.T, script func(far net.Conn, br *bufio.Reader)) (v *inval, keys chan string, readErr chan error) {
	t.Helper()
	var wg sync.WaitGroup
	near, far := net.Pipe()
	t.Cleanup(func() {
		far.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		br := bufio.NewReader(far)
		for _, reply := range []string{"+OK\r\n", ":7\r\n", "*3\r\n$9\r\nsubscribe\r\n$20\r\n__redis__:invalidate\r\n:1\r\n"} {
			if _, err := resp.ReadReply(br, nil, 1<<16); err != nil {
				return
			}
			if _, err := far.Write([]byte(reply)); err != nil {
				return
			}
		}
		script(far, br)
	}()
	o := pool.Options{Addr: "peer:6379", Dialer: func(context.Context, string, string) (net.Conn, error) { return near, nil }}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	v, err := dialInval(ctx, o, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	keys, readErr = make(chan string, 16), make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		readErr <- v.read(1<<16, func(ks [][]byte, all bool) {
			for _, k := range ks {
				keys <- string(k)
			}
		})
	}()
	t.Cleanup(v.close)
	return v, keys, readErr
}

// TestInvalidationInTheMiddleOfABarrier: an invalidation that arrives between a PING and
// its PONG, itself cut into pieces across reads, is applied before the barrier releases.
func TestInvalidationInTheMiddleOfABarrier(t *testing.T) {
	v, keys, _ := pipeInval(t, func(far net.Conn, br *bufio.Reader) {
		if _, err := resp.ReadReply(br, nil, 1<<16); err != nil { // PING
			return
		}
		for _, part := range []string{"*3\r\n$7\r\nmes", "sage\r\n$20\r\n__redis__:inval", "idate\r\n*1\r\n$1", "\r\nk\r\n", "*2\r\n$4\r\npong\r\n$0\r\n\r\n"} {
			if _, err := far.Write([]byte(part)); err != nil {
				return
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := v.sync(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case k := <-keys:
		if k != "k" {
			t.Errorf("invalidated %q, want k", k)
		}
	default:
		t.Error("the barrier released before the invalidation Redis sent ahead of its PONG was applied")
	}
}

// TestInvalidationConnectionAnsweringGarbage: a reply that is no pub/sub message fails the
// connection and every barrier waiting on it, instead of releasing one.
func TestInvalidationConnectionAnsweringGarbage(t *testing.T) {
	v, _, readErr := pipeInval(t, func(far net.Conn, br *bufio.Reader) {
		if _, err := resp.ReadReply(br, nil, 1<<16); err != nil { // PING
			return
		}
		far.Write([]byte("+PONG\r\n"))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := v.sync(ctx); !errors.Is(err, errLost) || !errors.Is(err, resp.ErrProtocol) {
		t.Errorf("barrier answered with garbage: %v, want the connection lost to a protocol error", err)
	}
	if err := <-readErr; !errors.Is(err, resp.ErrProtocol) {
		t.Errorf("reader stopped with %v, want a protocol error", err)
	}
}
