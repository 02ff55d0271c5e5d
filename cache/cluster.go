package cache

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/resp"
)

// superviseEvery is how often the supervisor compares its connections with the primaries
// when no change is reported.
const superviseEvery = time.Second

// topologyChanged runs when the Cluster's slot map changes: entries read from a primary that
// may no longer serve their slot could miss writes made on the new one, so all go. It runs
// before the command that revealed the change is sent again (see cluster.Cluster.OnChange).
func (c *Cache) topologyChanged() {
	c.mu.Lock()
	c.st.flush()
	c.mu.Unlock()
	select {
	case c.change <- struct{}{}:
	default:
	}
}

// supervise keeps one run (invalidation connection and tracked connections) per primary of
// the Cluster, starting them for new primaries and stopping those of former ones, until Close.
func (c *Cache) supervise() {
	defer c.wg.Done()
	type runner struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	runners := map[string]*runner{}
	var wg sync.WaitGroup
	defer func() {
		for _, r := range runners {
			r.cancel()
		}
		wg.Wait()
	}()
	tick := time.NewTicker(superviseEvery)
	defer tick.Stop()
	for {
		want := map[string]bool{}
		for _, a := range c.opts.Cluster.Primaries() {
			want[a] = true
		}
		for a, r := range runners {
			if !want[a] {
				// A former primary (demoted, removed): its invalidations no longer cover the
				// writes of its slots. Stopping its run flushes the cache.
				r.cancel()
				<-r.done
				delete(runners, a)
			}
		}
		for a := range want {
			if runners[a] != nil {
				continue
			}
			ctx, cancel := context.WithCancel(c.ctx)
			r := &runner{cancel: cancel, done: make(chan struct{})}
			runners[a] = r
			wg.Add(1)
			c.wg.Add(1) // run calls c.wg.Done
			go func() {
				defer wg.Done()
				defer close(r.done)
				c.run(ctx, a)
			}()
		}
		select {
		case <-c.ctx.Done():
			return
		case <-c.change:
		case <-tick.C:
		}
	}
}

// syncAll is Sync on a Cluster: a barrier on every primary's invalidation connection, run
// concurrently; any that fails flushes the cache.
func (c *Cache) syncAll(ctx context.Context) {
	gens := *c.gens.Load()
	if len(gens) == 0 {
		return
	}
	errs := make(chan error, len(gens))
	for _, g := range gens {
		go func() { errs <- g.inv.sync(ctx) }()
	}
	var failed error
	for range gens {
		if err := <-errs; err != nil && failed == nil {
			failed = err
		}
	}
	if failed != nil {
		c.opts.Logger.Warn("read cache flushed: invalidation barrier failed", "err", failed)
		c.flush()
	}
}

// redirection reports whether the error reply raw says the slot is served elsewhere, or not
// served now: MOVED, ASK, TRYAGAIN, CLUSTERDOWN.
func redirection(raw []byte) bool {
	if len(raw) == 0 || raw[0] != resp.Error {
		return false
	}
	m := raw[1:]
	for _, p := range [][]byte{[]byte("MOVED "), []byte("ASK "), []byte("TRYAGAIN"), []byte("CLUSTERDOWN")} {
		if bytes.HasPrefix(m, p) {
			return true
		}
	}
	return false
}

// primary fails unless the server p reaches answers ROLE as a primary.
func primary(ctx context.Context, p *pool.Pool) error {
	b := pool.NewBatch(1)
	defer b.Release()
	b.Add([]byte("ROLE"))
	if err := p.Do(ctx, b); err != nil {
		return fmt.Errorf("cache: ROLE: %w", err)
	}
	raw := b.Reply(0)
	_, _, n, rest, err := resp.Next(raw)
	if err == nil && n > 0 {
		var role []byte
		if _, role, _, _, err = resp.Next(rest); err == nil && string(role) == "master" {
			return nil
		}
	}
	return fmt.Errorf("cache: not a primary: ROLE answered %q", truncate(raw))
}
