package pool

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/redisgate/redisgate/resp"
)

// ErrTooLarge reports a batch whose replies passed Options.MaxReply, Options.MaxResponse or the
// pool's Options.MaxInflightResponse; they were read and discarded, and the connection is unharmed.
var ErrTooLarge = errors.New("reply too large")

// ErrInflightFull reports, along with ErrTooLarge, a batch whose replies did not fit in what the
// pool's unreleased batches left of Options.MaxInflightResponse: unlike the other limits, it may
// pass once they are released.
var ErrInflightFull = errors.New("replies in flight at their limit")

// budget counts the reply bytes held by a pool's batches that are not yet released.
type budget struct {
	held atomic.Int64
	max  int64
}

// take reserves n bytes; it reports false, reserving nothing, when that would pass the maximum.
func (g *budget) take(n int64) bool {
	if g.held.Add(n) > g.max {
		g.held.Add(-n)
		return false
	}
	return true
}

// limits bound what one connection's batches may hold.
type limits struct {
	maxReply    int     // raw bytes of one reply
	maxResponse int     // raw bytes of one batch's replies
	budget      *budget // the pool's
}

// billEvery is how many bytes of reply lines may be read before they are charged to the budget.
const billEvery = 4 << 10

// replyReader reads replies from a connection into batches, discarding, as they stream in,
// the replies of a batch past its limits.
type replyReader struct {
	br *bufio.Reader
	limits

	// heavy, when set, is called once per batch whose replies pass heavyAt bytes, while they
	// are still being read.
	heavy func()
	// detach, when set, is called as soon as a batch passes its limits, before the rest of its
	// replies are read and discarded; it returns the batch to read them into (b itself, or a
	// stand-in once b has been completed and handed back to its sender).
	detach func(b *Batch) *Batch

	read int // bytes of the current batch's replies read so far
}

// heavyAt is the size of a batch's replies past which its connection is heavy: everything
// queued behind a large answer on that connection waits for the whole of it, so new work goes
// to another connection while there is one.
const heavyAt = 1 << 20

// readBatch reads the replies of b and returns the batch that holds them: b, or the stand-in
// that detach gave for the rest of the replies of a batch past its limits. A batch past its
// limits is left with over set and no replies; an error is the connection's (I/O or protocol)
// and leaves it out of step.
func (r *replyReader) readBatch(b *Batch) (*Batch, error) {
	r.read = 0
	n := b.n // b may be handed back to its sender (and reused) before the loop ends
	var err error
	for i := 0; i < n; i++ {
		if b, err = r.readReply(b); err != nil {
			return b, err
		}
		if b.over == nil {
			b.ends = append(b.ends, len(b.replies))
		}
	}
	return b, nil
}

// readReply reads one reply, appending it to b.replies while b stays within its limits, and
// returns the batch to go on with (see detach).
func (r *replyReader) readReply(b *Batch) (*Batch, error) {
	start := len(b.replies)
	unbilled := 0 // line bytes kept but not yet charged to the budget
	for pending := 1; pending > 0; pending-- {
		line, err := r.br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return b, fmt.Errorf("%w: line longer than %d bytes", resp.ErrProtocol, r.br.Size())
			}
			return b, err
		}
		if len(line) < 3 || line[len(line)-2] != '\r' {
			return b, fmt.Errorf("%w: malformed line %q", resp.ErrProtocol, truncate(line))
		}
		kind := line[0]
		n := 0
		switch kind {
		case resp.Simple, resp.Error, resp.Integer:
		case resp.Bulk:
			if n, err = parseLen(line[1:len(line)-2], resp.MaxBulk); err != nil {
				return b, err
			}
		case resp.Array:
			if n, err = parseLen(line[1:len(line)-2], resp.MaxArray); err != nil {
				return b, err
			}
			if n > 0 {
				pending += n
			}
		default:
			return b, fmt.Errorf("%w: unknown reply type %q", resp.ErrProtocol, kind)
		}
		r.count(len(line))
		if b.over == nil {
			unbilled += len(line)
			if r.fits(b, start, len(line)) && (unbilled < billEvery || r.bill(b, &unbilled, 0)) {
				b.replies = append(b.replies, line...)
			} else {
				b = r.detached(b)
			}
		}
		if kind != resp.Bulk || n < 0 {
			continue
		}
		// The payload of a bulk string and its CRLF.
		r.count(n + 2)
		if b.over == nil {
			if r.fits(b, start, n+2) && r.bill(b, &unbilled, n+2) {
				l := len(b.replies)
				b.replies = grow(b.replies, n+2, r.maxResponse)[:l+n+2]
				if _, err := io.ReadFull(r.br, b.replies[l:]); err != nil {
					return b, err
				}
				if b.replies[l+n] != '\r' || b.replies[l+n+1] != '\n' {
					return b, fmt.Errorf("%w: bulk string not terminated by CRLF", resp.ErrProtocol)
				}
				continue
			}
			b = r.detached(b)
		}
		if _, err := r.br.Discard(n); err != nil {
			return b, err
		}
		for _, want := range []byte("\r\n") {
			c, err := r.br.ReadByte()
			if err != nil {
				return b, err
			}
			if c != want {
				return b, fmt.Errorf("%w: bulk string not terminated by CRLF", resp.ErrProtocol)
			}
		}
	}
	if b.over == nil && unbilled > 0 && !r.bill(b, &unbilled, 0) {
		b = r.detached(b)
	}
	return b, nil
}

// count adds n bytes to what the current batch's replies have taken, calling heavy when they
// pass heavyAt.
func (r *replyReader) count(n int) {
	before := r.read
	r.read += n
	if before < heavyAt && r.read >= heavyAt && r.heavy != nil {
		r.heavy()
	}
}

// detached returns the batch to read the rest of b's replies into, b having just passed its limits.
func (r *replyReader) detached(b *Batch) *Batch {
	if r.detach == nil {
		return b
	}
	return r.detach(b)
}

// fits reports whether n more bytes keep b's reply begun at start and all of b's replies within
// their limits; when not, b is marked over its limits and drops its replies.
func (r *replyReader) fits(b *Batch, start, n int) bool {
	switch {
	case len(b.replies)-start+n > r.maxReply:
		b.overflow(fmt.Errorf("%w: one reply larger than %d bytes", ErrTooLarge, r.maxReply))
		return false
	case len(b.replies)+n > r.maxResponse:
		b.overflow(fmt.Errorf("%w: replies larger than %d bytes", ErrTooLarge, r.maxResponse))
		return false
	}
	return true
}

// bill charges the pool's budget with *unbilled plus extra bytes of b and zeroes *unbilled;
// when the budget cannot take them, b is marked over its limits and drops its replies.
func (r *replyReader) bill(b *Batch, unbilled *int, extra int) bool {
	n := int64(*unbilled + extra)
	*unbilled = 0
	if b.holds != nil {
		return true // a WAIT's few bytes, dropped as soon as read
	}
	if !r.budget.take(n) {
		b.overflow(fmt.Errorf("%w: %w: replies in flight would pass %d bytes", ErrTooLarge, ErrInflightFull, r.budget.max))
		return false
	}
	b.charge(r.budget, n)
	return true
}

// grow returns buf with room for n more bytes. It doubles the capacity, no further than limit,
// where append would grow a large buffer by a quarter: each copy leaves the old buffer to the
// garbage collector, and a geometric series of quarters adds up to four times the final size.
func grow(buf []byte, n, limit int) []byte {
	need := len(buf) + n
	if need <= cap(buf) {
		return buf
	}
	size := min(max(2*cap(buf), need, 512), max(limit, need))
	grown := make([]byte, len(buf), size)
	copy(grown, buf)
	return grown
}

// parseLen parses a RESP length: -1 or a non-negative decimal no larger than max.
func parseLen(b []byte, max int) (int, error) {
	if len(b) == 2 && b[0] == '-' && b[1] == '1' {
		return -1, nil
	}
	if len(b) == 0 || len(b) > 10 {
		return 0, fmt.Errorf("%w: bad length %q", resp.ErrProtocol, b)
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: bad length %q", resp.ErrProtocol, b)
		}
		n = n*10 + int(c-'0')
	}
	if n > max {
		return 0, fmt.Errorf("%w: length %d over limit %d", resp.ErrProtocol, n, max)
	}
	return n, nil
}

func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
