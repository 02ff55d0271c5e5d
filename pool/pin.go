package pool

import (
	"context"
	"errors"
	"fmt"
)

// maxIdlePins bounds the pinned connections a Dedicated keeps for reuse once released.
const maxIdlePins = 4

// ErrPinLost reports that a pinned connection failed: whatever state it held (WATCH) is gone.
var ErrPinLost = errors.New("pinned redis connection lost")

// Pin is one connection of a Dedicated pool held by one client across many batches, for
// state Redis keeps on a connection between them (WATCH … EXEC). Its batches run in order,
// one at a time. Pins are outside the pool's Size: the caller bounds how many it holds. Once
// the connection fails, every later batch fails with ErrPinLost: the state is not silently
// rebuilt on a new connection. A Pin is used by one goroutine at a time.
type Pin struct {
	d *Dedicated
	c *conn // nil once lost or released
}

// Pin returns a connection held until Release: an idle one released earlier, or a new one.
func (d *Dedicated) Pin() (*Pin, error) {
	c, err := d.take(&d.pins, "-pinned")
	if err != nil {
		return nil, err
	}
	return &Pin{d: d, c: c}, nil
}

// Do runs b on the pinned connection and waits for its replies or for ctx to end. A batch
// that fails (ctx ended, the connection broke) loses the pin: the connection is closed,
// since what it holds is no longer known; ErrTooLarge leaves it in step and pinned.
func (p *Pin) Do(ctx context.Context, b *Batch) error {
	if p.c == nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, ErrPinLost)
	}
	if !p.c.enqueue(b, 1) {
		p.lose()
		return fmt.Errorf("%w: %w", ErrUnavailable, ErrPinLost)
	}
	select {
	case <-b.done:
	case <-ctx.Done():
		if b.abandon() {
			p.lose()
			return fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
		}
		<-b.done // completed meanwhile
	}
	b.finished = true
	if b.err != nil && !errors.Is(b.err, ErrTooLarge) { // an ErrTooLarge batch leaves its connection in step
		p.lose()
		return fmt.Errorf("%w: %w", b.err, ErrPinLost)
	}
	return b.err
}

// Lost reports whether the pinned connection failed or was released.
func (p *Pin) Lost() bool { return p.c == nil }

// lose closes the connection.
func (p *Pin) lose() {
	if p.c != nil {
		p.d.drop(p.c)
		p.c = nil
	}
}

// Release gives the connection back: kept for another Pin when reuse is set (the caller has
// reset its state, UNWATCH say), closed otherwise. The Pin is lost afterwards.
func (p *Pin) Release(reuse bool) {
	c := p.c
	if c == nil {
		return
	}
	p.c = nil
	if reuse && !c.isClosed() {
		p.d.mu.Lock()
		if !p.d.closed && len(p.d.pins) < maxIdlePins {
			p.d.pins = append(p.d.pins, c)
			p.d.mu.Unlock()
			return
		}
		p.d.mu.Unlock()
	}
	p.d.drop(c)
}
