package pool

import "github.com/redisgate/redisgate/resp"

// Batch is a group of commands that travel to Redis together and whose replies come back together.
//
// A Batch is sent once. After Do returns, its replies may be read; if Do returned
// because its context ended, the batch may still be completed later by the pool,
// so it must not be reused.
type Batch struct {
	buf     []byte
	n       int
	replies []byte
	ends    []int
	err     error
	done    chan struct{}
}

// NewBatch returns an empty batch with room for about n commands.
func NewBatch(n int) *Batch {
	return &Batch{ends: make([]int, 0, n), done: make(chan struct{})}
}

// Add appends one command to the batch.
func (b *Batch) Add(args ...[]byte) {
	b.buf = resp.AppendCommand(b.buf, args)
	b.n++
}

// AddRaw appends n commands already encoded in RESP to the batch.
func (b *Batch) AddRaw(encoded []byte, n int) {
	b.buf = append(b.buf, encoded...)
	b.n += n
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

// complete records the outcome of the batch and wakes its sender.
func (b *Batch) complete(err error) {
	b.err = err
	close(b.done)
}

// Wait blocks until the batch has completed and returns its error.
func (b *Batch) Wait() error {
	<-b.done
	return b.err
}
