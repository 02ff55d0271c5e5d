package cache

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/resp"
)

// invalidationChannel is where Redis publishes the keys a tracking client redirects to us.
const invalidationChannel = "__redis__:invalidate"

// errLost reports that the invalidation connection failed.
var errLost = errors.New("cache: invalidation connection lost")

// inval is one connection subscribed to invalidationChannel: Redis writes there, in order,
// the invalidations of the keys the tracked connections read, and the replies to its PINGs.
// A PONG therefore proves that every invalidation Redis queued before it read the PING has
// been applied: that is the barrier Sync waits for.
type inval struct {
	nc      net.Conn
	id      string // CLIENT ID, the target of CLIENT TRACKING … REDIRECT
	timeout time.Duration

	wmu sync.Mutex // serializes writes to nc and their order in sent

	mu   sync.Mutex
	next *barrier   // callers waiting for a PING not sent yet
	sent []*barrier // PINGs written whose PONG has not arrived, oldest first
	err  error      // set once the reader has stopped
	down chan struct{}

	// position, when set, returns the server's replication offset (as last probed);
	// covered is the highest one read before a PING whose PONG has arrived: every
	// invalidation of a write up to it has been applied.
	position func() int64
	covered  atomic.Int64
}

// errLate reports a PING whose PONG did not arrive within the connection's timeout.
var errLate = errors.New("cache: invalidation connection did not answer PING in time")

// barrier is one PING and the callers waiting for its PONG.
type barrier struct {
	once  sync.Once
	done  chan struct{}
	err   error       // set before done is closed
	timer *time.Timer // fails the barrier when the PONG is late; guarded by inval.mu
	pos   int64       // inval.position() just before the PING was written
}

func newBarrier() *barrier { return &barrier{done: make(chan struct{})} }

// finish releases the barrier's callers with err; only its first call counts.
func (b *barrier) finish(err error) {
	b.once.Do(func() {
		b.err = err
		close(b.done)
	})
}

// dialInval connects, learns the connection's CLIENT ID and subscribes to invalidationChannel.
func dialInval(ctx context.Context, o pool.Options, timeout time.Duration) (*inval, error) {
	nc, err := pool.Dial(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("invalidation connection: %w", err)
	}
	nc.SetDeadline(time.Now().Add(timeout))
	cmds := resp.AppendCommand(nil, [][]byte{[]byte("CLIENT"), []byte("ID")})
	cmds = resp.AppendCommand(cmds, [][]byte{[]byte("SUBSCRIBE"), []byte(invalidationChannel)})
	if _, err := nc.Write(cmds); err != nil {
		nc.Close()
		return nil, fmt.Errorf("invalidation connection: subscribe: %w", err)
	}
	br := bufio.NewReader(nc)
	raw, err := resp.ReadReply(br, nil, 1<<10)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("invalidation connection: CLIENT ID: %w", err)
	}
	kind, data, _, _, _ := resp.Next(raw)
	if kind != resp.Integer {
		nc.Close()
		return nil, fmt.Errorf("invalidation connection: CLIENT ID answered %q", raw)
	}
	id := string(data)
	if raw, err = resp.ReadReply(br, raw[:0], 1<<10); err != nil {
		nc.Close()
		return nil, fmt.Errorf("invalidation connection: SUBSCRIBE: %w", err)
	}
	if raw[0] != resp.Array {
		nc.Close()
		return nil, fmt.Errorf("invalidation connection: SUBSCRIBE answered %q", raw)
	}
	nc.SetDeadline(time.Time{})
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		nc.Close()
		return nil, fmt.Errorf("invalidation connection: CLIENT ID %q: %w", id, err)
	}
	if br.Buffered() > 0 {
		// Nothing can have been published yet: no connection tracks on our behalf.
		nc.Close()
		return nil, fmt.Errorf("invalidation connection: %w: unexpected data after SUBSCRIBE", resp.ErrProtocol)
	}
	return &inval{nc: nc, id: id, timeout: timeout, down: make(chan struct{})}, nil
}

// read reads nc until it fails, handing invalidated keys to onKeys (all: every key; keys
// are valid only during the call) and releasing barriers on PONGs; then it closes nc and
// fails the barriers still waiting.
func (v *inval) read(maxReply int, onKeys func(keys [][]byte, all bool)) error {
	err := v.readLoop(maxReply, onKeys)
	v.nc.Close()
	v.mu.Lock()
	v.err = err
	waiting := v.sent
	if v.next != nil {
		waiting = append(waiting, v.next)
	}
	v.sent, v.next = nil, nil
	for _, b := range waiting {
		if b.timer != nil {
			b.timer.Stop()
		}
	}
	v.mu.Unlock()
	close(v.down)
	for _, b := range waiting {
		b.finish(err)
	}
	return err
}

func (v *inval) readLoop(maxReply int, onKeys func(keys [][]byte, all bool)) error {
	br := bufio.NewReaderSize(v.nc, 64<<10)
	var raw []byte
	var keys [][]byte
	for {
		var err error
		if raw, err = resp.ReadReply(br, raw[:0], maxReply); err != nil {
			return fmt.Errorf("%w: %w", errLost, err)
		}
		var kind string
		if kind, keys, err = parsePush(raw, keys[:0]); err != nil {
			return fmt.Errorf("%w: %w", errLost, err)
		}
		switch kind {
		case "message":
			onKeys(keys, keys == nil)
		case "pong":
			v.mu.Lock()
			if len(v.sent) == 0 {
				v.mu.Unlock()
				return fmt.Errorf("%w: %w: PONG without PING", errLost, resp.ErrProtocol)
			}
			b := v.sent[0]
			v.sent[0] = nil
			v.sent = v.sent[1:]
			b.timer.Stop()
			v.mu.Unlock()
			b.finish(nil)
		}
	}
}

// parsePush reads one message of a subscribed RESP2 connection: its kind ("message",
// "pong", "subscribe", …) and, for an invalidation, the keys appended to keys (nil when Redis
// invalidated every key, as after FLUSHALL).
func parsePush(raw []byte, keys [][]byte) (string, [][]byte, error) {
	kind, _, n, rest, err := resp.Next(raw)
	if err != nil || kind != resp.Array || n < 2 {
		return "", nil, fmt.Errorf("%w: unexpected message %q on the invalidation connection", resp.ErrProtocol, truncate(raw))
	}
	_, name, _, rest, err := resp.Next(rest)
	if err != nil {
		return "", nil, err
	}
	if string(name) != "message" {
		return string(name), nil, nil
	}
	if n != 3 {
		return "", nil, fmt.Errorf("%w: invalidation message of %d elements", resp.ErrProtocol, n)
	}
	if _, _, _, rest, err = resp.Next(rest); err != nil { // the channel
		return "", nil, err
	}
	kind, _, n, rest, err = resp.Next(rest)
	switch {
	case err != nil:
		return "", nil, err
	case n < 0: // a null bulk string or array: every key
		return "message", nil, nil
	case kind != resp.Array:
		return "", nil, fmt.Errorf("%w: invalidation of type %q", resp.ErrProtocol, kind)
	}
	for range n {
		var key []byte
		if _, key, _, rest, err = resp.Next(rest); err != nil {
			return "", nil, err
		}
		keys = append(keys, key)
	}
	if keys == nil {
		keys = [][]byte{} // an empty list invalidates nothing, not everything
	}
	return "message", keys, nil
}

func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// ping is PING encoded as a RESP command.
const ping = "*1\r\n$4\r\nPING\r\n"

// sync waits until Redis has answered a PING sent after the call began, so that every
// invalidation Redis queued before has been applied. Concurrent callers share one PING. It
// fails when ctx ends, the connection fails, or the PONG is later than the connection's timeout.
func (v *inval) sync(ctx context.Context) error {
	v.mu.Lock()
	if v.err != nil {
		err := v.err
		v.mu.Unlock()
		return err
	}
	b := v.next
	send := b == nil
	if send {
		b = newBarrier()
		v.next = b
	}
	v.mu.Unlock()
	if send {
		v.send(b)
	}
	select {
	case <-b.done:
		if b.err == nil {
			for c := v.covered.Load(); b.pos > c && !v.covered.CompareAndSwap(c, b.pos); c = v.covered.Load() {
			}
		}
		return b.err
	case <-ctx.Done():
		return fmt.Errorf("cache: invalidation barrier: %w", ctx.Err())
	}
}

// send writes the PING of b; callers joining b until then are covered by it.
func (v *inval) send(b *barrier) {
	// Let the callers about to ask for a barrier join this one, as the pool's writers do.
	runtime.Gosched()
	v.wmu.Lock()
	defer v.wmu.Unlock()
	v.mu.Lock()
	if v.err != nil {
		v.mu.Unlock()
		return // the reader failed b already, or will
	}
	v.next = nil
	if v.position != nil {
		b.pos = v.position()
	}
	v.sent = append(v.sent, b)
	b.timer = time.AfterFunc(v.timeout, func() { b.finish(errLate) })
	v.mu.Unlock()
	v.nc.SetWriteDeadline(time.Now().Add(v.timeout))
	if _, err := v.nc.Write([]byte(ping)); err != nil {
		v.nc.Close() // the reader fails and releases b with the error
	}
}

// close closes the connection; the reader then stops.
func (v *inval) close() { v.nc.Close() }
