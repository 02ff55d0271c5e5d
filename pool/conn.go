package pool

import (
	"bufio"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redisgate/redisgate/resp"
)

// conn is one pipelined connection: a writer goroutine flushes every pending
// batch in one write, a reader goroutine matches replies to batches in order.
type conn struct {
	nc           net.Conn
	replyTimeout time.Duration
	limits       limits
	stats        *counters // the pool's

	mu       sync.Mutex
	pending  []*Batch // waiting for the writer
	inflight []*Batch // written, waiting for replies, oldest first
	reading  *Batch   // the batch whose replies the reader is reading: it completes it
	dead     bool
	err      error

	// heavy is set while the reader reads a batch whose replies passed heavyAt: the pool then
	// sends new work to another connection, if it can, rather than queue it behind the rest.
	heavy atomic.Bool

	ack     *acker  // when set, every write ends with a WAIT its batches wait for
	lighter *signal // a pool's connection: fired when it stops being heavy (see dial)
	addr    string  // the server's address, for logs

	wake   chan struct{} // a batch became pending
	closed chan struct{} // closed once the connection has failed
	wg     sync.WaitGroup
}

func newConn(nc net.Conn, replyTimeout time.Duration, lim limits) *conn {
	return &conn{
		nc:           nc,
		replyTimeout: replyTimeout,
		limits:       lim,
		wake:         make(chan struct{}, 1),
		closed:       make(chan struct{}),
	}
}

func (c *conn) start() {
	c.wg.Add(2)
	go c.writeLoop()
	go c.readLoop()
}

// wait blocks until the connection's goroutines have exited.
func (c *conn) wait() { c.wg.Wait() }

func (c *conn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// enqueue hands b to the writer; it reports false when the connection is dead or
// already holds maxBacklog batches, written or not, that Redis has not answered.
func (c *conn) enqueue(b *Batch, maxBacklog int) bool {
	c.mu.Lock()
	if c.dead || len(c.pending)+len(c.inflight) >= maxBacklog {
		c.mu.Unlock()
		return false
	}
	c.pending = append(c.pending, b)
	first := len(c.pending) == 1
	c.mu.Unlock()
	if first {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// backlog reports the batches waiting to be written or answered.
func (c *conn) backlog() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending) + len(c.inflight)
}

// withdraw removes b from the batches waiting to be written; it reports false when b was already written.
func (c *conn) withdraw(b *Batch) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, p := range c.pending {
		if p == b {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			return true
		}
	}
	return false
}

// fail closes the connection and completes every batch it holds: those not yet
// written with ErrUnavailable, those written with ErrBroken.
func (c *conn) fail(err error) {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return
	}
	c.dead = true
	c.err = err
	pending, inflight, reading := c.pending, c.inflight, c.reading
	c.pending, c.inflight = nil, nil
	c.mu.Unlock()
	c.nc.Close()
	close(c.closed)
	for _, b := range pending {
		// Not sent: the connection failed first.
		b.complete(&UnavailableError{Addr: c.addr, Err: err})
	}
	for _, b := range inflight {
		switch {
		case b == reading:
			// The reader may still be appending to it: it completes it once it stops.
		case b.held:
			// Completed through the WAIT batch, which follows it in inflight.
		case b.holds != nil:
			for _, h := range b.holds {
				if h != reading {
					h.complete(fmt.Errorf("%w: %v", ErrBroken, err))
				}
			}
			b.drop()
		default:
			b.complete(fmt.Errorf("%w: %v", ErrBroken, err))
		}
	}
}

// abort completes b, which the reader was reading when the connection failed with err.
func abort(b *Batch, err error) {
	err = fmt.Errorf("%w: %v", ErrBroken, err)
	if b.holds == nil {
		b.complete(err)
		return
	}
	for _, h := range b.holds {
		h.complete(err)
	}
	b.drop()
}

func (c *conn) writeLoop() {
	defer c.wg.Done()
	bw := bufio.NewWriterSize(c.nc, 64<<10)
	var batch []*Batch
	for {
		select {
		case <-c.closed:
			return
		case <-c.wake:
		}
		// Let the goroutines that are about to send join this write: batching is what
		// makes one syscall serve many requests.
		runtime.Gosched()
		c.mu.Lock()
		if c.dead {
			c.mu.Unlock()
			return
		}
		batch, c.pending = c.pending, batch[:0]
		if len(batch) == 0 {
			c.mu.Unlock()
			continue
		}
		if c.stats != nil {
			c.stats.writes.Add(1)
			c.stats.batches.Add(uint64(len(batch)))
		}
		if len(c.inflight) == 0 {
			c.nc.SetReadDeadline(time.Now().Add(c.replyTimeout))
		}
		c.inflight = append(c.inflight, batch...)
		var ack *Batch
		if c.ack != nil {
			// Group commit: one WAIT after every batch of this write covers them all, and
			// their senders hear back only once it answers.
			ack = c.ack.batch(batch)
			c.inflight = append(c.inflight, ack)
		}
		c.mu.Unlock()
		for i, b := range batch {
			if _, err := bw.Write(b.buf); err != nil {
				c.fail(fmt.Errorf("write: %w", err))
				return
			}
			batch[i] = nil
		}
		if ack != nil {
			if _, err := bw.Write(ack.buf); err != nil {
				c.fail(fmt.Errorf("write: %w", err))
				return
			}
		}
		if err := bw.Flush(); err != nil {
			c.fail(fmt.Errorf("write: %w", err))
			return
		}
	}
}

func (c *conn) readLoop() {
	defer c.wg.Done()
	r := replyReader{br: bufio.NewReaderSize(c.nc, 64<<10), limits: c.limits}
	if c.lighter != nil {
		r.heavy, r.detach = func() { c.heavy.Store(true) }, c.detach
	}
	for {
		if _, err := r.br.Peek(1); err != nil {
			c.fail(fmt.Errorf("read: %w", err))
			return
		}
		c.mu.Lock()
		if c.dead {
			c.mu.Unlock()
			return
		}
		if len(c.inflight) == 0 {
			c.mu.Unlock()
			c.fail(fmt.Errorf("%w: reply with no command waiting", resp.ErrProtocol))
			return
		}
		b := c.inflight[0]
		c.reading = b
		c.mu.Unlock()
		b, err := r.readBatch(b)
		if c.heavy.Swap(false) {
			c.lighter.fire()
		}
		if err != nil {
			c.fail(fmt.Errorf("read: %w", err))
			abort(b, c.failure())
			return
		}
		c.mu.Lock()
		c.reading = nil
		if c.dead {
			err := c.err
			c.mu.Unlock()
			abort(b, err)
			return
		}
		c.inflight[0] = nil
		c.inflight = c.inflight[1:]
		switch {
		case len(c.inflight) == 0:
			c.nc.SetReadDeadline(time.Time{})
		case r.br.Buffered() == 0:
			// Redis answered: it gets replyTimeout again for the next reply. Only when the
			// reader is about to wait for it, not after every batch of a read that brought
			// many (a time.Now and a timer update per request otherwise).
			c.nc.SetReadDeadline(time.Now().Add(c.replyTimeout))
		}
		c.mu.Unlock()
		switch {
		case b.held:
			// Completed by the WAIT that follows it.
		case b.holds != nil:
			c.ack.complete(b)
			b.drop()
		default:
			b.complete(nil)
		}
	}
}

// detach completes b, whose replies have just passed its limits, at once (with ErrTooLarge)
// rather than after the rest of them has been read and discarded, which for a large answer
// takes as long as Redis takes to send it; it returns the stand-in the reader reads that rest
// into. A batch completed through a WAIT, or one the connection's failure completes, stays.
func (c *conn) detach(b *Batch) *Batch {
	if b.held || b.holds != nil {
		return b
	}
	rest := &Batch{n: b.n, over: b.over, done: make(chan struct{}, 1)}
	c.mu.Lock()
	if c.dead || c.reading != b {
		c.mu.Unlock()
		return b
	}
	c.inflight[0], c.reading = rest, rest
	c.mu.Unlock()
	b.complete(nil) // fails with b.over; from here on only the sender touches b
	return rest
}

// failure returns why the connection failed.
func (c *conn) failure() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// handshake writes hello on nc and checks that none of its replies is an error; when one is,
// it returns the index of the command refused, else -1.
func handshake(nc net.Conn, hello *Batch, timeout time.Duration) (int, error) {
	nc.SetDeadline(time.Now().Add(timeout))
	defer nc.SetDeadline(time.Time{})
	if _, err := nc.Write(hello.buf); err != nil {
		return -1, fmt.Errorf("handshake: %w", err)
	}
	br := bufio.NewReader(nc)
	for i := 0; i < hello.n; i++ {
		start := len(hello.replies)
		var err error
		hello.replies, err = resp.ReadReply(br, hello.replies, 1<<20)
		if err != nil {
			return -1, fmt.Errorf("handshake: %w", err)
		}
		if r := hello.replies[start:]; r[0] == resp.Error {
			return i, fmt.Errorf("handshake: %s", r[1:len(r)-2])
		}
	}
	if br.Buffered() > 0 {
		return -1, fmt.Errorf("handshake: %w: unexpected extra reply", resp.ErrProtocol)
	}
	return -1, nil
}

// acker turns a connection's writes into acknowledged writes: WAIT replicas timeout after each.
type acker struct {
	replicas int
	cmd      []byte // the encoded WAIT
}

func newAcker(replicas int, timeout time.Duration) *acker {
	return &acker{replicas: replicas, cmd: resp.AppendCommand(nil, [][]byte{
		[]byte("WAIT"), []byte(strconv.Itoa(replicas)), []byte(strconv.FormatInt(timeout.Milliseconds(), 10)),
	})}
}

// batch returns the WAIT batch covering batches, which it marks as held.
func (a *acker) batch(batches []*Batch) *Batch {
	w := &Batch{buf: a.cmd, n: 1, done: make(chan struct{}, 1), holds: make([]*Batch, len(batches))}
	copy(w.holds, batches)
	for _, b := range batches {
		b.held = true
	}
	return w
}

// complete reads the WAIT reply of w and completes the batches it holds.
func (a *acker) complete(w *Batch) {
	var err error
	kind, data, _, _, perr := resp.Next(w.replies)
	switch {
	case perr != nil || kind != resp.Integer:
		err = fmt.Errorf("%w: WAIT answered %q", ErrNotAcked, w.replies)
	default:
		if n, _ := strconv.Atoi(string(data)); n < a.replicas {
			err = fmt.Errorf("%w: %d of %d replicas acknowledged", ErrNotAcked, n, a.replicas)
		}
	}
	for _, h := range w.holds {
		h.complete(err)
	}
}

// signal wakes everyone waiting at the time it fires, as often as it fires.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel closed when s next fires.
func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// fire wakes those waiting.
func (s *signal) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}
