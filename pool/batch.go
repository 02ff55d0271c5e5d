package pool

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/redisgate/redisgate/resp"
)

// Batch is a group of commands that travel to Redis together and whose replies come back together.
//
// A Batch is sent once. After Do returns nil, its replies may be read until Release, and they
// count against the pool's Options.MaxInflightResponse until then. After Do returns an error
// the batch holds no replies; when that error is an *UnavailableError, none of it was written
// and it may be given to Do again (of this pool or another). If Do returned because its context ended, the pool may still
// complete the batch later: it must not be reused, its replies are discarded, and Release
// leaves it alone.
type Batch struct {
	buf      []byte
	n        int
	replies  []byte
	ends     []int
	err      error
	done     chan struct{} // receives one value when the batch completes
	finished bool          // the completion was received
	held     bool          // completed by the WAIT batch that follows it, not by its own replies
	holds    []*Batch      // for a WAIT batch: the batches it acknowledges

	state atomic.Int32 // batchRunning, then batchCompleted or batchAbandoned, whichever comes first
	over  error        // set by the reader: the replies passed a limit and were discarded
	debt  *debt        // the reply bytes it holds, given back if it is never released
}

// debt is what a batch owes a budget: kept apart from the batch so that a batch dropped without
// Release gives its bytes back when it is garbage collected.
type debt struct {
	budget *budget
	n      int64
}

// charge records that b took n bytes from g.
func (b *Batch) charge(g *budget, n int64) {
	if b.debt == nil {
		b.debt = &debt{}
		runtime.AddCleanup(b, (*debt).settle, b.debt)
	}
	b.debt.budget = g
	b.debt.n += n
}

// settle gives the bytes owed back to their budget.
func (d *debt) settle() {
	if d.budget != nil {
		d.budget.held.Add(-d.n)
		d.budget, d.n = nil, 0
	}
}

// The states of a batch sent to a connection.
const (
	batchRunning   = iota // written or waiting to be, its sender waiting
	batchCompleted        // its outcome recorded for the sender
	batchAbandoned        // its sender stopped waiting: the pool drops its replies at completion
)

var batches = sync.Pool{New: func() any { return &Batch{done: make(chan struct{}, 1)} }}

// maxKept is the largest buffer a released batch keeps for reuse.
const maxKept = 64 << 10

// NewBatch returns an empty batch with room for about n commands.
func NewBatch(n int) *Batch {
	b := batches.Get().(*Batch)
	b.ends = slices.Grow(b.ends, n)
	return b
}

// Release returns a batch whose Do has returned to be reused; its replies must no longer be used.
// A batch abandoned by Do (its context ended first) is left to the garbage collector.
func (b *Batch) Release() {
	if !b.finished {
		return
	}
	b.drop()
	if cap(b.buf) > maxKept || cap(b.replies) > maxKept || cap(b.ends) > maxKept/8 {
		return
	}
	b.buf, b.replies, b.ends = b.buf[:0], b.replies[:0], b.ends[:0]
	b.n, b.err, b.finished, b.held, b.over = 0, nil, false, false, nil
	b.state.Store(batchRunning)
	batches.Put(b)
}

// Add appends one command to the batch.
func (b *Batch) Add(args ...[]byte) {
	b.buf = slices.Grow(b.buf, resp.CommandSize(args))
	b.buf = resp.AppendCommand(b.buf, args)
	b.n++
}

// Again returns a new batch holding b's commands, to send once more: for a batch Redis
// refused whole without running any of it (BUSY while a script ran).
func (b *Batch) Again() *Batch {
	c := NewBatch(b.n)
	c.buf = append(c.buf[:0], b.buf...)
	c.n = b.n
	return c
}

// Adopt gives b, a batch never sent, copies of the first n replies of from, a batch Do
// answered, as if b had been sent and answered itself; b may then be read and released as
// usual. It lets a router send a copy of a caller's batch with commands of its own appended
// (a replica set adds ROLE after a write) and hand back the caller's replies without ever
// changing the caller's batch.
func (b *Batch) Adopt(from *Batch, n int) {
	end := 0
	if n > 0 {
		end = from.ends[n-1]
	}
	b.replies = append(b.replies[:0], from.replies[:end]...)
	b.ends = append(b.ends[:0], from.ends[:n]...)
	b.err, b.finished = nil, true
	b.state.Store(batchCompleted)
}

// Len reports the number of commands in the batch.
func (b *Batch) Len() int { return b.n }

// Reply returns the raw RESP bytes of the i-th reply.
func (b *Batch) Reply(i int) []byte {
	start := 0
	if i > 0 {
		start = b.ends[i-1]
	}
	return b.replies[start:b.ends[i]]
}

// Replies returns the raw RESP bytes of all replies, in order.
func (b *Batch) Replies() []byte { return b.replies }

// overflow marks b as past its limits with err and drops the replies it holds.
func (b *Batch) overflow(err error) {
	b.over = err
	b.drop()
}

// drop gives back the reply bytes b holds, to its budget and, when the buffer is large, to the
// garbage collector.
func (b *Batch) drop() {
	if b.debt != nil {
		b.debt.settle()
	}
	if cap(b.replies) > maxKept {
		b.replies = nil
	} else {
		b.replies = b.replies[:0]
	}
	b.ends = b.ends[:0]
}

// complete records the outcome of the batch (its own error, if its replies passed a limit, comes
// before err) and wakes its sender; a failed or abandoned batch gives back its replies first.
func (b *Batch) complete(err error) {
	if b.over != nil {
		err = b.over
	}
	if err != nil {
		b.drop()
	}
	b.err = err
	if !b.state.CompareAndSwap(batchRunning, batchCompleted) {
		b.drop() // abandoned: nobody will read or release the replies
	}
	b.done <- struct{}{}
}

// unsent reports whether err says that a batch was never written.
func unsent(err error) bool {
	var u *UnavailableError
	return errors.As(err, &u)
}

// abandon records that the sender stops waiting for b; it reports false when b has already
// completed, so that its outcome is there to be received.
func (b *Batch) abandon() bool {
	return b.state.CompareAndSwap(batchRunning, batchAbandoned)
}

// wait receives the completion of the batch and returns its error.
func (b *Batch) wait() error {
	<-b.done
	b.finished = true
	return b.err
}

// Wait blocks until the batch has completed and returns its error; it is for batches
// whose Do returned early because its context ended.
func (b *Batch) Wait() error {
	if b.finished {
		return b.err
	}
	return b.wait()
}

// Commands returns the arguments of each command of b, parsed back from what Add encoded; they
// point into b and are valid until Release.
func (b *Batch) Commands() ([][][]byte, error) {
	cmds := make([][][]byte, 0, b.n)
	rest := b.buf
	for range b.n {
		kind, _, n, tail, err := resp.Next(rest)
		if err != nil || kind != resp.Array {
			return nil, fmt.Errorf("%w: batch command not an array", resp.ErrProtocol)
		}
		args := make([][]byte, n)
		for i := range args {
			var data []byte
			if kind, data, _, tail, err = resp.Next(tail); err != nil || kind != resp.Bulk {
				return nil, fmt.Errorf("%w: batch argument not a bulk string", resp.ErrProtocol)
			}
			args[i] = data
		}
		cmds = append(cmds, args)
		rest = tail
	}
	return cmds, nil
}

// Answer records replies, raw RESP one per command in order, as the outcome of b, which was
// not sent (a router sent its commands on batches of its own): b is then finished as if Do
// had returned nil, and Reply and Release work as after Do.
func (b *Batch) Answer(replies [][]byte) {
	b.replies, b.ends = b.replies[:0], b.ends[:0]
	for _, r := range replies {
		b.replies = append(b.replies, r...)
		b.ends = append(b.ends, len(b.replies))
	}
	b.err, b.finished = nil, true
}
