package pool

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/redisgate/redisgate/resp"
)

// streamReplies are replies of every kind, nested and not, that a batch reads in one stream.
var streamReplies = []string{
	"+OK\r\n",
	"-ERR wrong\r\n",
	":-12\r\n",
	"$-1\r\n",
	"*-1\r\n",
	"*0\r\n",
	"$0\r\n\r\n",
	"$5\r\nhe\r\no\r\n",
	"*3\r\n*2\r\n$1\r\na\r\n:1\r\n*1\r\n$3\r\nbcd\r\n$-1\r\n",
	"$300\r\n" + strings.Repeat("z", 300) + "\r\n",
	"*2\r\n$40\r\n" + strings.Repeat("q", 40) + "\r\n*1\r\n+nested\r\n",
}

// TestReplyReaderLimitsAtEverySplit reads a batch of replies, then one more batch, through a
// stream split at every offset, under limits the batch fits and limits it passes: past a
// limit the batch keeps no replies and owes nothing, and the next batch reads in step.
func TestReplyReaderLimitsAtEverySplit(t *testing.T) {
	stream := strings.Join(streamReplies, "")
	total, largest := len(stream), 0
	for _, r := range streamReplies {
		largest = max(largest, len(r))
	}
	big := 1 << 30
	cases := []struct {
		name string
		lim  limits
		over bool
	}{
		{"within", limits{maxReply: largest, maxResponse: total, budget: &budget{max: int64(total)}}, false},
		{"reply past maxReply", limits{maxReply: largest - 1, maxResponse: big, budget: &budget{max: int64(big)}}, true},
		{"batch past maxResponse", limits{maxReply: big, maxResponse: total - 1, budget: &budget{max: int64(big)}}, true},
		{"first line past maxResponse", limits{maxReply: big, maxResponse: 2, budget: &budget{max: int64(big)}}, true},
		{"past the budget", limits{maxReply: big, maxResponse: big, budget: &budget{max: int64(total - 1)}}, true},
	}
	const tail = "+TAIL\r\n"
	in := stream + tail
	for _, c := range cases {
		readers := map[string]func() io.Reader{
			"one byte at a time": func() io.Reader { return iotest.OneByteReader(strings.NewReader(in)) },
		}
		for split := 0; split <= len(in); split++ {
			readers["split"] = func() io.Reader {
				return io.MultiReader(strings.NewReader(in[:split]), strings.NewReader(in[split:]))
			}
			for how, reader := range readers {
				c.lim.budget.held.Store(0)
				r := replyReader{br: bufio.NewReaderSize(reader(), 64<<10), limits: c.lim}
				b := &Batch{n: len(streamReplies)}
				if _, err := r.readBatch(b); err != nil {
					t.Fatalf("%s, %s at %d: %v", c.name, how, split, err)
				}
				held := c.lim.budget.held.Load()
				if c.over {
					if !errors.Is(b.over, ErrTooLarge) || len(b.replies) != 0 || held != 0 {
						t.Fatalf("%s, %s at %d: over %v, %d bytes kept, %d held", c.name, how, split, b.over, len(b.replies), held)
					}
				} else {
					if b.over != nil || string(b.replies) != stream || held != int64(total) {
						t.Fatalf("%s, %s at %d: over %v, replies %q, %d held", c.name, how, split, b.over, b.replies, held)
					}
					for i, want := range streamReplies {
						if got := string(b.Reply(i)); got != want {
							t.Fatalf("%s, %s at %d: reply %d = %q, want %q", c.name, how, split, i, got, want)
						}
					}
					b.drop()
					if held := c.lim.budget.held.Load(); held != 0 {
						t.Fatalf("%d bytes held after drop", held)
					}
				}
				r.limits = limits{maxReply: big, maxResponse: big, budget: &budget{max: int64(big)}}
				next := &Batch{n: 1}
				if _, err := r.readBatch(next); err != nil || string(next.replies) != tail || next.over != nil {
					t.Fatalf("%s, %s at %d: next batch %q %v %v", c.name, how, split, next.replies, next.over, err)
				}
				next.drop()
			}
			if split > 0 {
				delete(readers, "one byte at a time")
			}
		}
	}
}

// FuzzReplyReader checks the reader against resp.ReadReply: the same replies are accepted and
// refused, within limits the same bytes are kept, and past a limit the same bytes are consumed.
func FuzzReplyReader(f *testing.F) {
	for _, r := range streamReplies {
		f.Add([]byte(r), uint16(4))
		f.Add([]byte(r), uint16(len(r)))
	}
	f.Add([]byte("$3\r\nabcX\n"), uint16(2))
	f.Add([]byte("*2\r\n$1\r\na\r\n"), uint16(2))
	f.Add([]byte("$99999999999\r\n"), uint16(2))
	f.Fuzz(func(t *testing.T, data []byte, limit uint16) {
		ref, refErr := resp.ReadReply(bufio.NewReader(bytes.NewReader(data)), nil, 0)
		for _, lim := range []int{1 << 30, int(limit)} {
			src := bytes.NewReader(data)
			r := replyReader{br: bufio.NewReader(src), limits: limits{maxReply: 1 << 30, maxResponse: lim, budget: &budget{max: 1 << 40}}}
			b := &Batch{n: 1}
			_, err := r.readBatch(b)
			if (err == nil) != (refErr == nil) {
				t.Fatalf("limit %d: error %v, resp.ReadReply's %v", lim, err, refErr)
			}
			if err != nil {
				continue
			}
			if consumed := len(data) - src.Len() - r.br.Buffered(); consumed != len(ref) {
				t.Fatalf("limit %d: consumed %d bytes, the reply has %d", lim, consumed, len(ref))
			}
			if over := len(ref) > lim; over != (b.over != nil) || !over && !bytes.Equal(b.replies, ref) {
				t.Fatalf("limit %d: over %v, kept %q, reply %q", lim, b.over, b.replies, ref)
			}
		}
	})
}
