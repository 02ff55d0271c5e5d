package pool

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Dedicated runs batches that may block their connection (BLPOP, XREAD BLOCK, WAIT, …):
// each batch has a connection to itself, and at most Options.Size connections exist.
// Connections are dialled on demand and kept for reuse; their batches' replies count against
// a MaxInflightResponse of their own.
type Dedicated struct {
	opts   Options
	slots  chan struct{} // one token per connection that may exist
	budget budget        // reply bytes its batches hold

	mu     sync.Mutex
	idle   []*conn
	pins   []*conn // released pinned connections, kept for reuse (pin.go)
	all    map[*conn]struct{}
	closed bool
}

// NewDedicated returns a Dedicated pool; it dials nothing until the first batch.
func NewDedicated(opts Options) *Dedicated {
	opts.setDefaults()
	d := &Dedicated{opts: opts, slots: make(chan struct{}, opts.Size), all: map[*conn]struct{}{}}
	d.budget.max = opts.MaxInflightResponse
	d.opts.budget = &d.budget
	return d
}

// Do runs b alone on one connection and waits for its replies or for ctx to end.
// Callers must give blocking commands a timeout shorter than ctx's deadline: a
// connection whose batch outlives ctx is closed, which cancels the command in Redis.
//
// When every connection is busy, b waits for one until ctx ends, and then fails with
// ErrUnavailable (it was not sent). The time it waited does not count against ctx's
// deadline once it has a connection: b then gets as long as ctx had left when Do was
// called, so a batch that queued is not cut short (which would be ErrTimeout) because others
// held the connections.
func (d *Dedicated) Do(ctx context.Context, b *Batch) error {
	start := time.Now()
	select {
	case d.slots <- struct{}{}:
	default:
		select {
		case d.slots <- struct{}{}:
		case <-ctx.Done():
			return fmt.Errorf("%w: all %d blocking connections busy until the deadline", ErrUnavailable, d.opts.Size)
		}
		if ctx.Err() != nil {
			<-d.slots
			return fmt.Errorf("%w: all %d blocking connections busy until the deadline", ErrUnavailable, d.opts.Size)
		}
		var cancel context.CancelFunc
		ctx, cancel = extendDeadline(ctx, time.Since(start))
		defer cancel()
	}
	defer func() { <-d.slots }()
	c, err := d.get()
	if err != nil {
		return err
	}
	if !c.enqueue(b, 1) {
		d.drop(c)
		return &UnavailableError{Addr: d.opts.Address()}
	}
	select {
	case <-b.done:
	case <-ctx.Done():
		if b.abandon() {
			d.drop(c)
			return fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
		}
		<-b.done // completed meanwhile
	}
	b.finished = true
	if b.err != nil && !errors.Is(b.err, ErrTooLarge) {
		d.drop(c) // an ErrTooLarge batch leaves its connection in step
		return b.err
	}
	d.put(c)
	return b.err
}

// get returns an idle live connection or dials a new one.
func (d *Dedicated) get() (*conn, error) { return d.take(&d.idle, "-blocking") }

// take returns a live connection from idle (a list d.mu guards) or dials a new one, named with
// suffix after the client name.
func (d *Dedicated) take(idle *[]*conn, suffix string) (*conn, error) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, ErrClosed
	}
	for len(*idle) > 0 {
		c := (*idle)[len(*idle)-1]
		*idle = (*idle)[:len(*idle)-1]
		if !c.isClosed() {
			d.mu.Unlock()
			return c, nil
		}
		delete(d.all, c)
		d.mu.Unlock()
		c.wait()
		d.mu.Lock()
	}
	d.mu.Unlock()
	c, err := dial(&d.opts, d.opts.ClientName+suffix, nil, nil)
	if err != nil {
		return nil, &UnavailableError{Addr: d.opts.Address(), Err: err}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		c.fail(ErrClosed)
		c.wait()
		return nil, ErrClosed
	}
	d.all[c] = struct{}{}
	return c, nil
}

func (d *Dedicated) put(c *conn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return // Close fails and waits for it
	}
	d.idle = append(d.idle, c)
}

// drop closes c and waits for its goroutines.
func (d *Dedicated) drop(c *conn) {
	c.fail(ErrClosed)
	c.wait()
	d.mu.Lock()
	delete(d.all, c)
	d.mu.Unlock()
}

// Open reports how many dedicated connections exist.
func (d *Dedicated) Open() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.all)
}

// Close closes every connection, failing batches in progress, and waits for their goroutines.
func (d *Dedicated) Close() error {
	d.mu.Lock()
	d.closed = true
	conns := make([]*conn, 0, len(d.all))
	for c := range d.all {
		conns = append(conns, c)
	}
	d.idle, d.pins = nil, nil
	d.mu.Unlock()
	for _, c := range conns {
		c.fail(ErrClosed)
		c.wait()
	}
	return nil
}

// extendDeadline returns a context like ctx whose deadline, if it has one, is by later; it
// is cancelled with ctx for any reason but ctx's deadline.
func extendDeadline(ctx context.Context, by time.Duration) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return ctx, func() {}
	}
	ext, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline.Add(by))
	stop := context.AfterFunc(ctx, func() {
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			cancel()
		}
	})
	return ext, func() {
		stop()
		cancel()
	}
}
