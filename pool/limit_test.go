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

	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/resp"
)

// limitedPool returns a one-connection pool with the given limits and a count of connections lost.
func limitedPool(t *testing.T, rs *redistest.Server, set func(*pool.Options)) (*pool.Pool, *atomic.Int32) {
	t.Helper()
	o, err := pool.ParseURL(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	o.Size = 1
	o.Logger = slog.New(slog.DiscardHandler)
	var lost atomic.Int32
	o.OnLost = func(error) { lost.Add(1) }
	set(&o)
	p := pool.New(o)
	t.Cleanup(func() { p.Close() })
	redistest.WaitFor(t, 2*time.Second, func() bool { return p.Connected() == 1 }, "connected")
	return p, &lost
}

// getBig returns a batch of n GETs of the key "big".
func getBig(n int) *pool.Batch {
	b := pool.NewBatch(n)
	for range n {
		b.Add([]byte("GET"), []byte("big"))
	}
	return b
}

// TestMaxResponseDiscards sends 300 GETs of a 1 MiB value in one batch, past an 8 MiB
// MaxResponse, while another goroutine runs small SET/GET pairs on the same connection: the big
// batch fails with ErrTooLarge, every small pair gets its own replies, and nothing stays held.
func TestMaxResponseDiscards(t *testing.T) {
	rs := redistest.Start(t)
	p, lost := limitedPool(t, rs, func(o *pool.Options) { o.MaxResponse = 8 << 20 })
	do(t, p, "SET", "big", strings.Repeat("x", 1<<20))

	stop := make(chan struct{})
	var small, failed, mismatched atomic.Int64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key, val := fmt.Sprintf("small:%d", w), fmt.Sprintf("v%d-%d", w, i)
				b := pool.NewBatch(2)
				b.Add([]byte("SET"), []byte(key), []byte(val))
				b.Add([]byte("GET"), []byte(key))
				// Each 300 MiB answer keeps Redis itself busy for seconds on a loaded machine
				// (it builds the whole answer before sending any of it): what is asserted is
				// that no pair fails or gets another's replies, not how long it waits.
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				err := p.Do(ctx, b)
				cancel()
				switch {
				case err != nil:
					failed.Add(1)
					t.Errorf("small pair: %v", err)
				case string(b.Reply(0)) != "+OK\r\n" || string(b.Reply(1)) != "$"+strconv.Itoa(len(val))+"\r\n"+val+"\r\n":
					mismatched.Add(1)
				}
				small.Add(1)
				b.Release()
			}
		}()
	}
	for range 3 {
		b := getBig(300)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := p.Do(ctx, b)
		cancel()
		if !errors.Is(err, pool.ErrTooLarge) || errors.Is(err, pool.ErrInflightFull) {
			t.Fatalf("300 GETs of 1 MiB: %v, want ErrTooLarge for MaxResponse", err)
		}
		if !strings.Contains(err.Error(), "larger than 8388608 bytes") {
			t.Errorf("error %q does not give the limit", err)
		}
		b.Release()
	}
	close(stop)
	wg.Wait()
	t.Logf("%d small pairs alongside", small.Load())
	if small.Load() == 0 || failed.Load() != 0 || mismatched.Load() != 0 {
		t.Errorf("small pairs: %d run, %d failed, %d with others' replies", small.Load(), failed.Load(), mismatched.Load())
	}
	if n := lost.Load(); n != 0 {
		t.Errorf("%d connections lost", n)
	}
	if st := p.Stats(); st.InflightResponse != 0 || st.Connected != 1 {
		t.Errorf("after the work: %+v, want nothing in flight and the connection up", st)
	}
	// A batch within the limit still gets its replies.
	b := getBig(7)
	if err := p.Do(context.Background(), b); err != nil {
		t.Fatalf("7 GETs of 1 MiB: %v", err)
	}
	if st := p.Stats(); st.InflightResponse != int64(len(b.Replies())) {
		t.Errorf("holding 7 MiB of replies: %d bytes in flight, want %d", st.InflightResponse, len(b.Replies()))
	}
	b.Release()
	if st := p.Stats(); st.InflightResponse != 0 {
		t.Errorf("after Release: %d bytes in flight", st.InflightResponse)
	}
}

// TestMaxReplyDiscards checks that one reply past MaxReply fails its batch, not the connection.
func TestMaxReplyDiscards(t *testing.T) {
	rs := redistest.Start(t)
	p, lost := limitedPool(t, rs, func(o *pool.Options) { o.MaxReply = 512 << 10 })
	do(t, p, "SET", "big", strings.Repeat("x", 1<<20))
	do(t, p, "RPUSH", "list", strings.Repeat("y", 300<<10), strings.Repeat("z", 300<<10))
	for _, args := range [][]string{{"GET", "big"}, {"LRANGE", "list", "0", "-1"}} {
		b := pool.NewBatch(3)
		b.Add([]byte("PING"))
		b.Add(bytesArgs(args)...)
		b.Add([]byte("PING"))
		if err := p.Do(context.Background(), b); !errors.Is(err, pool.ErrTooLarge) || !strings.Contains(err.Error(), "one reply larger than 524288 bytes") {
			t.Errorf("%q: %v, want ErrTooLarge for one reply", args, err)
		}
	}
	if got := do(t, p, "ECHO", "after"); got != "$5\r\nafter\r\n" {
		t.Errorf("after the large replies: %q", got)
	}
	if lost.Load() != 0 || p.Stats().InflightResponse != 0 {
		t.Errorf("lost %d connections, %d bytes in flight", lost.Load(), p.Stats().InflightResponse)
	}
}

// TestInflightBudget checks that replies held by unreleased batches count against
// MaxInflightResponse, that a batch that would pass it fails at once, and that released,
// failed and abandoned batches give their bytes back.
func TestInflightBudget(t *testing.T) {
	rs := redistest.Start(t)
	p, lost := limitedPool(t, rs, func(o *pool.Options) { o.MaxInflightResponse = 3<<20 + 1<<10 })
	do(t, p, "SET", "big", strings.Repeat("x", 1<<20))
	a, b := getBig(1), getBig(1)
	for _, x := range []*pool.Batch{a, b} {
		if err := p.Do(context.Background(), x); err != nil {
			t.Fatal(err)
		}
	}
	held := p.Stats().InflightResponse
	if held < 2<<20 || held > 2<<20+64 {
		t.Errorf("two 1 MiB replies held: %d bytes in flight", held)
	}
	c := getBig(2)
	start := time.Now()
	if err := p.Do(context.Background(), c); !errors.Is(err, pool.ErrTooLarge) || !errors.Is(err, pool.ErrInflightFull) || !strings.Contains(err.Error(), "in flight would pass 3146752 bytes") {
		t.Fatalf("past the budget: %v, want ErrTooLarge", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("the batch past the budget waited %v", took)
	}
	if got := p.Stats().InflightResponse; got != held {
		t.Errorf("a failed batch holds bytes: %d in flight, want %d", got, held)
	}
	a.Release()
	c = getBig(2)
	if err := p.Do(context.Background(), c); err != nil {
		t.Fatalf("after one release: %v", err)
	}
	b.Release()
	c.Release()
	if got := p.Stats().InflightResponse; got != 0 {
		t.Errorf("all released: %d bytes in flight", got)
	}

	// A batch whose sender gave up holds nothing once its replies arrive.
	d := pool.NewBatch(2)
	d.Add([]byte("BLPOP"), []byte("nothing"), []byte("0.2"))
	d.Add([]byte("GET"), []byte("big"))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.Do(ctx, d); !errors.Is(err, pool.ErrTimeout) {
		t.Fatalf("abandoned batch: %v, want ErrTimeout", err)
	}
	if err := d.Wait(); err != nil {
		t.Fatalf("abandoned batch completed with %v", err)
	}
	if got := p.Stats().InflightResponse; got != 0 {
		t.Errorf("an abandoned batch holds %d bytes", got)
	}
	if lost.Load() != 0 {
		t.Errorf("%d connections lost", lost.Load())
	}
}

// TestDedicatedTooLarge checks that a dedicated connection survives ErrTooLarge and is reused.
func TestDedicatedTooLarge(t *testing.T) {
	rs := redistest.Start(t)
	o, _ := pool.ParseURL(rs.URL())
	o.Size, o.MaxResponse, o.Logger = 1, 1<<20, slog.New(slog.DiscardHandler)
	d := pool.NewDedicated(o)
	defer d.Close()
	rs.MustDo("SET", "big", strings.Repeat("x", 1<<20))
	b := getBig(2)
	if err := d.Do(context.Background(), b); !errors.Is(err, pool.ErrTooLarge) {
		t.Fatalf("dedicated: %v, want ErrTooLarge", err)
	}
	b = pool.NewBatch(1)
	b.Add([]byte("CLIENT"), []byte("ID"))
	if err := d.Do(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if d.Open() != 1 {
		t.Errorf("%d dedicated connections, want the one reused", d.Open())
	}
	b.Release()
}

// TestBatchReusedAfterLarge checks that a released batch that held a large reply works again
// and that replies are exact across reuse.
func TestBatchReusedAfterLarge(t *testing.T) {
	rs := redistest.Start(t)
	p := newPool(t, rs, 1)
	do(t, p, "SET", "big", strings.Repeat("x", 100<<10))
	for i := range 50 {
		b := pool.NewBatch(1)
		if i%2 == 0 {
			b.Add([]byte("GET"), []byte("big"))
		} else {
			b.Add([]byte("ECHO"), []byte(strconv.Itoa(i)))
		}
		if err := p.Do(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		_, data, _, _, err := resp.Next(b.Reply(0))
		if err != nil || (i%2 == 0 && len(data) != 100<<10) || (i%2 == 1 && string(data) != strconv.Itoa(i)) {
			t.Fatalf("round %d: %d bytes, %v", i, len(data), err)
		}
		b.Release()
	}
}

// TestTooLargeWithAcks checks that a write batch past MaxResponse on a pool whose writes wait
// for replicas fails with ErrTooLarge, not with its WAIT's outcome, and that acknowledged writes
// sharing its WAIT are unaffected.
func TestTooLargeWithAcks(t *testing.T) {
	leader := redistest.Start(t)
	redistest.StartReplica(t, leader, "")
	p, lost := limitedPool(t, leader, func(o *pool.Options) {
		o.MaxResponse, o.AckReplicas, o.AckTimeout, o.ReplyTimeout = 1<<20, 1, time.Second, 5*time.Second
	})
	do(t, p, "SET", "big", strings.Repeat("x", 1<<20))
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := pool.NewBatch(2)
			b.Add([]byte("SET"), []byte("w"+strconv.Itoa(i)), []byte("v"))
			if i%2 == 0 {
				b.Add([]byte("GET"), []byte("big"))
			}
			errs[i] = p.Do(context.Background(), b)
			if errs[i] == nil && string(b.Reply(0)) != "+OK\r\n" {
				errs[i] = fmt.Errorf("SET answered %q", b.Reply(0))
			}
			b.Release()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if i%2 == 0 && !errors.Is(err, pool.ErrTooLarge) || i%2 == 1 && err != nil {
			t.Errorf("batch %d: %v", i, err)
		}
	}
	if lost.Load() != 0 || p.Stats().InflightResponse != 0 {
		t.Errorf("lost %d connections, %d bytes in flight", lost.Load(), p.Stats().InflightResponse)
	}
}
