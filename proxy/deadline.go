package proxy

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// deadlineSlot is how finely request deadlines are rounded (up), so that the requests
// of one slot share one context and one timer instead of making their own.
const deadlineSlot = 10 * time.Millisecond

// deadlines hands out contexts that end a given timeout from now, rounded up to deadlineSlot.
// At tens of thousands of requests a second this turns per-request timers into a few
// hundred a second.
type deadlines struct {
	base    context.Context
	timeout time.Duration
	cur     atomic.Pointer[slotCtx]
	mu      sync.Mutex // serializes making a new slot
}

type slotCtx struct {
	at  time.Time
	ctx context.Context
	// cancel is kept, not called: the context ends by its own deadline, and calling it
	// earlier would cut short requests still using the slot.
	cancel context.CancelFunc
}

func newDeadlines(base context.Context, timeout time.Duration) *deadlines {
	return &deadlines{base: base, timeout: timeout}
}

// context returns a context whose deadline is between timeout and timeout+deadlineSlot from now.
func (d *deadlines) context() context.Context {
	at := time.Now().Add(d.timeout).Truncate(deadlineSlot).Add(deadlineSlot)
	if s := d.cur.Load(); s != nil && s.at.Equal(at) {
		return s.ctx
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if s := d.cur.Load(); s != nil && !s.at.Before(at) {
		return s.ctx
	}
	ctx, cancel := context.WithDeadline(d.base, at)
	d.cur.Store(&slotCtx{at: at, ctx: ctx, cancel: cancel})
	return ctx
}
