package pool_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/resp"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newPool(t *testing.T, rs *redistest.Server, size int) *pool.Pool {
	t.Helper()
	o, err := pool.ParseURL(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	o.Size = size
	o.Logger = slog.New(slog.DiscardHandler)
	o.DialTimeout = 300 * time.Millisecond
	p := pool.New(o)
	t.Cleanup(func() { p.Close() })
	return p
}

func do(t *testing.T, p *pool.Pool, args ...string) string {
	t.Helper()
	b := pool.NewBatch(1)
	b.Add(bytesArgs(args)...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := p.Do(ctx, b); err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	defer b.Release()
	return string(b.Reply(0))
}

func bytesArgs(args []string) [][]byte {
	out := make([][]byte, len(args))
	for i, a := range args {
		out[i] = []byte(a)
	}
	return out
}

// TestConcurrentBatchesMatchReplies runs many goroutines whose batches share a few connections
// and checks that each batch gets exactly its own replies, and that Redis saw only the pool's connections.
func TestConcurrentBatchesMatchReplies(t *testing.T) {
	rs := redistest.Start(t)
	p := newPool(t, rs, 3)
	const workers, rounds = 64, 100
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := "k" + strconv.Itoa(w)
			for i := 1; i <= rounds; i++ {
				b := pool.NewBatch(3)
				b.Add([]byte("INCR"), []byte(key))
				b.Add([]byte("ECHO"), []byte(fmt.Sprintf("%s-%d", key, i)))
				b.Add([]byte("MULTI"))
				b.Add([]byte("GET"), []byte(key))
				b.Add([]byte("EXEC"))
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := p.Do(ctx, b)
				cancel()
				if err != nil {
					errs <- err
					return
				}
				want := []string{
					fmt.Sprintf(":%d\r\n", i),
					fmt.Sprintf("$%d\r\n%s-%d\r\n", len(fmt.Sprintf("%s-%d", key, i)), key, i),
					"+OK\r\n", "+QUEUED\r\n",
					fmt.Sprintf("*1\r\n$%d\r\n%d\r\n", len(strconv.Itoa(i)), i),
				}
				for j, wantReply := range want {
					if got := string(b.Reply(j)); got != wantReply {
						errs <- fmt.Errorf("worker %d round %d reply %d = %q, want %q", w, i, j, got, wantReply)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := p.Stats()
	t.Logf("%d batches in %d writes", st.Batches, st.Writes)
	if st.Connected != 3 || st.Batches < workers*rounds || st.Writes == 0 || st.Writes > st.Batches || st.Backlog != 0 {
		t.Errorf("stats %+v after %d batches", st, workers*rounds)
	}
	info := do(t, p, "INFO", "clients")
	if !strings.Contains(info, "connected_clients:3\r\n") {
		t.Errorf("redis sees other than the pool's 3 connections: %s", info)
	}
}

func TestLargeReplies(t *testing.T) {
	rs := redistest.Start(t)
	p := newPool(t, rs, 1)
	big := strings.Repeat("x", 3<<20)
	b := pool.NewBatch(2)
	b.Add([]byte("SET"), []byte("big"), []byte(big))
	b.Add([]byte("GET"), []byte("big"))
	if err := p.Do(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	_, data, _, _, err := resp.Next(b.Reply(1))
	if err != nil || string(data) != big {
		t.Fatalf("big value came back with %d bytes, %v", len(data), err)
	}
}

func TestOutageAndRecovery(t *testing.T) {
	rs := redistest.Start(t)
	p := newPool(t, rs, 2)
	do(t, p, "SET", "k", "v")
	rs.Kill()
	for i := range 10 {
		b := pool.NewBatch(1)
		b.Add([]byte("GET"), []byte("k"))
		start := time.Now()
		err := p.Do(context.Background(), b)
		if !errors.Is(err, pool.ErrUnavailable) && !errors.Is(err, pool.ErrBroken) {
			t.Fatalf("request %d during outage: %v", i, err)
		}
		if took := time.Since(start); took > 100*time.Millisecond {
			t.Errorf("request %d during outage took %v", i, took)
		}
	}
	rs.Restart()
	start := time.Now()
	for p.Connected() < 2 {
		if time.Since(start) > time.Second {
			t.Fatalf("pool not reconnected 1s after restart: %d up", p.Connected())
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("reconnected %v after restart", time.Since(start))
	if got := do(t, p, "PING"); got != "+PONG\r\n" {
		t.Errorf("PING = %q", got)
	}
}

func TestFrozenServer(t *testing.T) {
	rs := redistest.Start(t)
	o, _ := pool.ParseURL(rs.URL())
	o.Size = 1
	o.ReplyTimeout = 300 * time.Millisecond
	o.DialTimeout = 200 * time.Millisecond
	o.Logger = slog.New(slog.DiscardHandler)
	p := pool.New(o)
	defer p.Close()
	rs.Freeze()
	b := pool.NewBatch(1)
	b.Add([]byte("PING"))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := p.Do(ctx, b); !errors.Is(err, pool.ErrTimeout) {
		t.Fatalf("frozen server: %v, want ErrTimeout", err)
	}
	// The connection owes a reply past ReplyTimeout: it is dropped and the batch fails as broken.
	select {
	case <-time.After(2 * time.Second):
		t.Fatal("connection to a frozen server not dropped")
	case <-waitDone(b):
	}
	rs.Thaw()
	deadline := time.Now().Add(2 * time.Second)
	for p.Connected() < 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := do(t, p, "PING"); got != "+PONG\r\n" {
		t.Errorf("after thaw PING = %q", got)
	}
}

// waitDone returns a channel closed once b has completed.
func waitDone(b *pool.Batch) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		b.Wait()
	}()
	return ch
}

func TestClosedPool(t *testing.T) {
	rs := redistest.Start(t)
	p := newPool(t, rs, 1)
	p.Close()
	b := pool.NewBatch(1)
	b.Add([]byte("PING"))
	if err := p.Do(context.Background(), b); !errors.Is(err, pool.ErrClosed) {
		t.Fatalf("Do on closed pool: %v", err)
	}
}

// TestRedialFollowsResolve moves a pool from one server to another: after Redial every
// connection is at the address Resolve names, and batches sent after it reach that server.
func TestRedialFollowsResolve(t *testing.T) {
	a, b := redistest.Start(t), redistest.Start(t)
	var target atomic.Value
	target.Store(a.Addr)
	o := pool.Options{Size: 3, Resolve: func() string { return target.Load().(string) }, ClientName: "redial-test",
		Logger: slog.New(slog.DiscardHandler), DialTimeout: 300 * time.Millisecond}
	p := pool.New(o)
	t.Cleanup(func() { p.Close() })
	redistest.WaitFor(t, 2*time.Second, func() bool { return p.Connected() == 3 }, "3 connections")
	if got := do(t, p, "SET", "where", "a"); got != "+OK\r\n" {
		t.Fatalf("SET: %q", got)
	}
	target.Store(b.Addr)
	p.Redial()
	redistest.WaitFor(t, 2*time.Second, func() bool { return p.Connected() == 3 }, "3 connections after Redial")
	for i := range 20 {
		do(t, p, "SET", "after:"+strconv.Itoa(i), "b")
	}
	if n := a.MustDo("DBSIZE"); n != int64(1) {
		t.Errorf("old server holds %v keys, want only the one written before Redial", n)
	}
	if n := b.MustDo("DBSIZE"); n != int64(20) {
		t.Errorf("new server holds %v keys, want the 20 written after Redial", n)
	}
	list, _ := a.MustDo("CLIENT", "LIST").(string)
	if strings.Contains(list, "name=redial-test") {
		t.Errorf("the pool still has connections to the old server:\n%s", list)
	}
	if got := p.Addr(); got != b.Addr {
		t.Errorf("Addr() = %s, want %s", got, b.Addr)
	}
}
