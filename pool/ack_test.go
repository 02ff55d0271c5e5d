package pool_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/pool"
)

func TestAcknowledgedWrites(t *testing.T) {
	leader := redistest.Start(t)
	replica := redistest.StartReplica(t, leader, "")
	o, _ := pool.ParseURL(leader.URL())
	o.Size = 1
	o.AckReplicas = 1
	o.AckTimeout = 300 * time.Millisecond
	o.ReplyTimeout = 5 * time.Second
	o.Logger = slog.New(slog.DiscardHandler)
	p := pool.New(o)
	defer p.Close()

	set := func(key string) error {
		b := pool.NewBatch(1)
		b.Add([]byte("SET"), []byte(key), []byte("v"))
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		return p.Do(ctx, b)
	}
	if err := set("a"); err != nil {
		t.Fatalf("acknowledged write: %v", err)
	}
	if v, err := replica.Do("GET", "a"); err != nil || v != "v" {
		t.Fatalf("an acknowledged write is not on the replica: %v %v", v, err)
	}

	// Many concurrent writes share few WAITs.
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- set(fmt.Sprint("k", i))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	stats, _ := leader.Do("INFO", "commandstats")
	m := regexp.MustCompile(`cmdstat_wait:calls=(\d+)`).FindStringSubmatch(fmt.Sprint(stats))
	if m == nil {
		t.Fatalf("no WAIT in %v", stats)
	}
	waits, _ := strconv.Atoi(m[1])
	t.Logf("201 writes, %d WAITs", waits)
	if waits >= 201 {
		t.Errorf("%d WAITs for 201 writes: no group commit", waits)
	}

	// With the replica frozen, the write is applied but not acknowledged: the sender hears so.
	replica.Freeze()
	start := time.Now()
	err := set("b")
	replica.Thaw()
	if !errors.Is(err, pool.ErrNotAcked) {
		t.Fatalf("write with the replica frozen: %v, want ErrNotAcked", err)
	}
	if took := time.Since(start); took < 250*time.Millisecond || took > 2*time.Second {
		t.Errorf("unacknowledged write answered after %v, want about the 300ms ack timeout", took)
	}
	if err := set("c"); err != nil {
		t.Errorf("after thaw: %v", err)
	}
}
