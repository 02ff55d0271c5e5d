package pool_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/redisgate/redisgate/pool"
)

// scriptedPeer accepts connections on loopback, answers each handshake command with +OK and
// each command after it with the parts given, 100 ms apart.
func scriptedPeer(t *testing.T, parts ...string) string {
	t.Helper()
	return pacedPeer(t, 100*time.Millisecond, map[string][]string{"*": parts})
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
