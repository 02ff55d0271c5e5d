package respserver_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// incrWatched adds one to key with go-redis's optimistic-locking loop (WATCH, GET, MULTI
// SET EXEC, again on TxFailedErr) and returns how many attempts failed.
func incrWatched(ctx context.Context, c *redis.Client, key string) (int, error) {
	for retries := 0; retries < 1000; retries++ {
		err := c.Watch(ctx, func(tx *redis.Tx) error {
			n, err := tx.Get(ctx, key).Int()
			if err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, key, n+1, 0)
				return nil
			})
			return err
		}, key)
		if !errors.Is(err, redis.TxFailedErr) {
			return retries, err
		}
	}
	return 1000, errors.New("1000 attempts failed")
}

// TestWatchUnderContention: clients incrementing one counter with WATCH and a retry loop
// lose no increment, on RESP2 and RESP3.
func TestWatchUnderContention(t *testing.T) {
	eachProtocol(t, func(t *testing.T, l *listener, _ *redis.Client) {
		ctx := context.Background()
		const clients, incrs = 6, 40
		var wg sync.WaitGroup
		var mu sync.Mutex
		retries := 0
		for i := range clients {
			c := l.client(rwToken, func(o *redis.Options) { o.PoolSize = 1; o.Protocol = 2 + i%2 })
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range incrs {
					n, err := incrWatched(ctx, c, "ctr")
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					retries += n
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if got := l.redis.MustDo("GET", "ctr"); fmt.Sprint(got) != fmt.Sprint(clients*incrs) {
			t.Fatalf("counter %v, want %d", got, clients*incrs)
		}
		t.Logf("%d increments, %d retries", clients*incrs, retries)
	})
}

// TestWatchDetectsChanges: EXEC fails when a watched key changed after WATCH (written by
// anyone: Redis directly, another client of the gateway), and runs when none did; commands
// between WATCH and EXEC run on the pinned connection.
func TestWatchDetectsChanges(t *testing.T) {
	eachProtocol(t, func(t *testing.T, l *listener, c *redis.Client) {
		ctx := context.Background()
		other := l.client(rwToken)
		for _, tt := range []struct {
			name    string
			change  func()
			wantErr error
		}{
			{"unchanged", func() {}, nil},
			{"changed by redis", func() { l.redis.MustDo("SET", "w", "x") }, redis.TxFailedErr},
			{"changed by another client", func() { other.Set(ctx, "w", "y", 0) }, redis.TxFailedErr},
			{"other key changed", func() { other.Incr(ctx, "unwatched") }, nil},
		} {
			err := c.Watch(ctx, func(tx *redis.Tx) error {
				if err := tx.Get(ctx, "w").Err(); err != nil && !errors.Is(err, redis.Nil) {
					return err
				}
				tt.change()
				_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
					p.Set(ctx, "w", tt.name, 0)
					return nil
				})
				return err
			}, "w")
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("%s: EXEC %v, want %v", tt.name, err, tt.wantErr)
			}
		}
	})
}

// TestWatchPinsAreBoundedAndReset: past MaxPins a WATCH gets a clear error; a pin comes
// back at EXEC, DISCARD, UNWATCH, RESET and when its client leaves; a pinned connection
// given to the next client carries nothing of the former one's watched keys; WATCH never
// reaches a shared connection.
func TestWatchPinsAreBoundedAndReset(t *testing.T) {
	l := start(t, func(s *setup) { s.resp.MaxPins = 2 })
	a, b, c := l.raw(t), l.raw(t), l.raw(t)
	for _, r := range []*raw{a, b, c} {
		r.send("AUTH " + rwToken + "\r\n")
		if got := r.line(); got != "+OK" {
			t.Fatalf("AUTH: %q", got)
		}
	}
	a.send("WATCH k1\r\n")
	b.send("WATCH k2\r\n")
	if got, got2 := a.line(), b.line(); got != "+OK" || got2 != "+OK" {
		t.Fatalf("WATCH: %q %q", got, got2)
	}
	c.send("WATCH k3\r\n")
	if got := c.line(); !strings.Contains(got, "too many clients are in WATCH") {
		t.Fatalf("third WATCH with MaxPins 2: %q", got)
	}
	// The pinned connections are Redis clients of their own, named so.
	if list := fmt.Sprint(l.redis.MustDo("CLIENT", "LIST")); strings.Count(list, "-pinned") != 2 {
		t.Errorf("CLIENT LIST shows %d pinned connections, want 2:\n%s", strings.Count(list, "-pinned"), list)
	}
	// Each way of ending a WATCH gives the pin back.
	for _, end := range []string{"UNWATCH", "DISCARD", "EXEC", "RESET"} {
		a.send("UNWATCH\r\n") // leaves a's pin, whatever it holds
		a.line()
		a.send("WATCH k1\r\n")
		if got := a.line(); got != "+OK" {
			t.Fatalf("WATCH again: %q", got)
		}
		switch end {
		case "DISCARD", "EXEC":
			a.send("MULTI\r\n")
			a.line()
			a.send(end + "\r\n")
			a.line() // +OK or *0
		case "RESET":
			a.send("RESET\r\n")
			a.line()
			a.send("AUTH " + rwToken + "\r\n")
			a.line()
		default:
			a.send("UNWATCH\r\n")
			a.line()
		}
		c.send("WATCH k3\r\n")
		if got := c.line(); got != "+OK" {
			t.Fatalf("after %s the pin did not come back: %q", end, got)
		}
		c.send("UNWATCH\r\n")
		c.line()
	}
	// A client that leaves gives its pin back; k2, which it watched, does not follow its
	// connection to the next client.
	c.send("WATCH k3\r\n") // b and c hold the two pins
	if got := c.line(); got != "+OK" {
		t.Fatalf("WATCH: %q", got)
	}
	b.nc.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		a.send("WATCH k4\r\n") // b's place, once the gateway has seen b leave
		got := a.line()
		if got == "+OK" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pin of a client that left did not come back: %q", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	l.redis.MustDo("SET", "k2", "changed")
	l.redis.MustDo("SET", "k1", "changed")
	for key, r := range map[string]*raw{"k4": a, "k3": c} {
		r.send("MULTI\r\nSET " + key + " v\r\nEXEC\r\n")
		if got := r.line() + r.line() + r.line() + r.line(); got != "+OK+QUEUED*1+OK" {
			t.Errorf("EXEC after former clients' watched keys changed: %q", got)
		}
	}
	// A transaction on the shared connections is never affected by anyone's WATCH.
	a.send("WATCH k3\r\n")
	a.line()
	l.redis.MustDo("SET", "k3", "changed")
	shared := l.client(rwToken)
	if _, err := shared.TxPipelined(context.Background(), func(p redis.Pipeliner) error {
		p.Set(context.Background(), "k3", "x", 0)
		return nil
	}); err != nil {
		t.Errorf("an unwatched transaction: %v", err)
	}
	a.send("MULTI\r\nSET k3 v\r\nEXEC\r\n")
	if got := a.line() + a.line() + a.line(); got != "+OK+QUEUED*-1" {
		t.Errorf("EXEC after its watched key changed: %q", got)
	}
}

// TestWatchIdlePinIsDropped: a client silent past PinIdleTimeout while watching loses its
// pin to others, stays connected, and its EXEC fails as if a watched key changed.
func TestWatchIdlePinIsDropped(t *testing.T) {
	l := start(t, func(s *setup) { s.resp.MaxPins = 1; s.resp.PinIdleTimeout = 200 * time.Millisecond })
	a, b := l.raw(t), l.raw(t)
	for _, r := range []*raw{a, b} {
		r.send("AUTH " + rwToken + "\r\n")
		r.line()
	}
	a.send("WATCH k\r\n")
	a.line()
	time.Sleep(500 * time.Millisecond)
	b.send("WATCH k\r\nUNWATCH\r\n")
	if got := b.line() + b.line(); got != "+OK+OK" {
		t.Fatalf("WATCH after the idle client's pin was dropped: %q", got)
	}
	a.send("GET k\r\nMULTI\r\nSET k v\r\nEXEC\r\n")
	if got := a.line() + a.line() + a.line() + a.line(); got != "$-1+OK+QUEUED*-1" {
		t.Errorf("idle watcher: %q, want its EXEC to fail", got)
	}
	a.send("MULTI\r\nSET k v\r\nEXEC\r\n") // no longer watching
	if got := a.line() + a.line() + a.line() + a.line(); got != "+OK+QUEUED*1+OK" {
		t.Errorf("after the failed EXEC: %q", got)
	}
}

// TestWatchingSubscriberLosesIdlePin: a RESP3 subscriber, which has no idle timeout, still
// loses a pin it holds idle past PinIdleTimeout.
func TestWatchingSubscriberLosesIdlePin(t *testing.T) {
	l := start(t, func(s *setup) { s.resp.MaxPins = 1; s.resp.PinIdleTimeout = 200 * time.Millisecond })
	a, b := l.raw(t), l.raw(t)
	a.send("HELLO 3 AUTH default " + rwToken + "\r\n")
	for !strings.HasPrefix(a.line(), "*0") {
	}
	a.send("SUBSCRIBE ch\r\nWATCH k\r\n")
	readN(a, 6+1)
	b.send("AUTH " + rwToken + "\r\n")
	b.line()
	time.Sleep(500 * time.Millisecond)
	b.send("WATCH k\r\n")
	if got := b.line(); got != "+OK" {
		t.Fatalf("WATCH after the idle subscriber's pin was dropped: %q", got)
	}
	l.redis.MustDo("PUBLISH", "ch", "still subscribed")
	if got := strings.Join(readN(a, 7), " "); got != ">3 $7 message $2 ch $16 still subscribed" {
		t.Errorf("the subscriber after losing its pin: %s", got)
	}
}
