package pool

import (
	"bufio"
	"fmt"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/redisgate/redisgate/resp"
)

// conn is one pipelined connection: a writer goroutine flushes every pending
// batch in one write, a reader goroutine matches replies to batches in order.
type conn struct {
	nc           net.Conn
	replyTimeout time.Duration
	maxReply     int

	mu       sync.Mutex
	pending  []*Batch // waiting for the writer
	inflight []*Batch // written, waiting for replies, oldest first
	dead     bool
	err      error

	wake   chan struct{} // a batch became pending
	closed chan struct{} // closed once the connection has failed
	wg     sync.WaitGroup
}

func newConn(nc net.Conn, replyTimeout time.Duration, maxReply int) *conn {
	return &conn{
		nc:           nc,
		replyTimeout: replyTimeout,
		maxReply:     maxReply,
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
	pending, inflight := c.pending, c.inflight
	c.pending, c.inflight = nil, nil
	c.mu.Unlock()
	c.nc.Close()
	close(c.closed)
	for _, b := range pending {
		b.complete(fmt.Errorf("%w: %v", ErrUnavailable, err))
	}
	for _, b := range inflight {
		b.complete(fmt.Errorf("%w: %v", ErrBroken, err))
	}
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
		if len(c.inflight) == 0 && len(batch) > 0 {
			c.nc.SetReadDeadline(time.Now().Add(c.replyTimeout))
		}
		c.inflight = append(c.inflight, batch...)
		c.mu.Unlock()
		for i, b := range batch {
			if _, err := bw.Write(b.buf); err != nil {
				c.fail(fmt.Errorf("write: %w", err))
				return
			}
			batch[i] = nil
		}
		if err := bw.Flush(); err != nil {
			c.fail(fmt.Errorf("write: %w", err))
			return
		}
	}
}

func (c *conn) readLoop() {
	defer c.wg.Done()
	br := bufio.NewReaderSize(c.nc, 64<<10)
	for {
		if _, err := br.Peek(1); err != nil {
			c.fail(fmt.Errorf("read: %w", err))
			return
		}
		c.mu.Lock()
		if len(c.inflight) == 0 {
			c.mu.Unlock()
			c.fail(fmt.Errorf("%w: reply with no command waiting", resp.ErrProtocol))
			return
		}
		b := c.inflight[0]
		c.mu.Unlock()
		for len(b.ends) < b.n {
			var err error
			b.replies, err = resp.ReadReply(br, b.replies, c.maxReply)
			if err != nil {
				c.fail(fmt.Errorf("read: %w", err))
				return
			}
			b.ends = append(b.ends, len(b.replies))
		}
		c.mu.Lock()
		c.inflight[0] = nil
		c.inflight = c.inflight[1:]
		if len(c.inflight) == 0 {
			c.nc.SetReadDeadline(time.Time{})
		} else {
			c.nc.SetReadDeadline(time.Now().Add(c.replyTimeout))
		}
		c.mu.Unlock()
		b.complete(nil)
	}
}

// handshake writes hello on nc and checks that none of its replies is an error.
func handshake(nc net.Conn, hello *Batch, timeout time.Duration) error {
	nc.SetDeadline(time.Now().Add(timeout))
	defer nc.SetDeadline(time.Time{})
	if _, err := nc.Write(hello.buf); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	br := bufio.NewReader(nc)
	for i := 0; i < hello.n; i++ {
		start := len(hello.replies)
		var err error
		hello.replies, err = resp.ReadReply(br, hello.replies, 1<<20)
		if err != nil {
			return fmt.Errorf("handshake: %w", err)
		}
		if r := hello.replies[start:]; r[0] == resp.Error {
			return fmt.Errorf("handshake: %s", r[1:len(r)-2])
		}
	}
	if br.Buffered() > 0 {
		return fmt.Errorf("handshake: %w: unexpected extra reply", resp.ErrProtocol)
	}
	return nil
}
