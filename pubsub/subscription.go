package pubsub

import (
	"net"
	"sync"
)

// Kind says what a subscription receives.
type Kind int

const (
	// Channels receives the messages published to the named channels.
	Channels Kind = iota + 1
	// Patterns receives the messages published to channels matching the named glob patterns.
	Patterns
	// Monitor receives the lines of one Redis MONITOR connection.
	Monitor
)

// String returns the Redis command that starts a subscription of this kind.
func (k Kind) String() string {
	switch k {
	case Channels:
		return "subscribe"
	case Patterns:
		return "psubscribe"
	case Monitor:
		return "monitor"
	}
	return "unknown"
}

// Message is one event from Redis. It is shared by every subscriber that receives it and must not be modified.
type Message struct {
	// Pattern is the pattern that matched, for a Patterns subscription.
	Pattern []byte
	// Channel is the channel the message was published to; empty for MONITOR lines.
	Channel []byte
	// Payload is the published message, or the MONITOR line.
	Payload []byte
}

func (m *Message) size() int { return len(m.Pattern) + len(m.Channel) + len(m.Payload) }

// newMessage copies the parts of a message out of the reader's buffer into one allocation.
func newMessage(pattern, channel, payload []byte) *Message {
	b := make([]byte, 0, len(pattern)+len(channel)+len(payload))
	b = append(b, pattern...)
	b = append(b, channel...)
	b = append(b, payload...)
	p, c := len(pattern), len(pattern)+len(channel)
	return &Message{Pattern: b[:p:p], Channel: b[p:c:c], Payload: b[c:]}
}

// Subscription is one subscriber's bounded queue of messages. Its owner reads it with
// Ready and Take until Done, and must call Close when it stops reading.
type Subscription struct {
	hub   *Hub
	kind  Kind
	names []string

	mu    sync.Mutex
	queue []*Message
	bytes int
	ended bool
	err   error         // why the subscription ended; set under mu before done is closed
	ready chan struct{} // signalled when queue becomes non-empty
	done  chan struct{} // closed when the subscription ends

	released bool // guarded by hub.mu: removed from the hub's topics (or monitors)

	nc     net.Conn      // MONITOR only: the subscription's own connection
	exited chan struct{} // MONITOR only: closed when the connection's reader has exited
}

func newSubscription(h *Hub, kind Kind, names []string) *Subscription {
	return &Subscription{
		hub:   h,
		kind:  kind,
		names: names,
		ready: make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
}

// Kind reports what the subscription receives.
func (s *Subscription) Kind() Kind { return s.kind }

// Names returns the channels or patterns subscribed to, without duplicates, in request order.
func (s *Subscription) Names() []string { return s.names }

// Ready is signalled when messages are waiting to be taken.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Done is closed when the hub ends the subscription; Err says why, and Take still returns what was queued before.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err reports why the subscription ended: ErrSlowConsumer, ErrClosed or, for MONITOR, ErrLost; nil while it runs.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Take appends every waiting message to dst, oldest first, and empties the queue.
func (s *Subscription) Take(dst []*Message) []*Message {
	s.mu.Lock()
	dst = append(dst, s.queue...)
	clear(s.queue)
	s.queue = s.queue[:0]
	s.bytes = 0
	s.mu.Unlock()
	return dst
}

// Close ends the subscription and releases its Redis resources: the last subscriber of a
// channel or pattern unsubscribes it, a MONITOR connection is closed and its reader waited for.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	s.hub.releaseLocked(s)
	s.hub.mu.Unlock()
	s.finish(ErrClosed)
	if s.exited != nil {
		<-s.exited
	}
}

// offer queues m; it reports false when the queue is full, so the subscriber is too slow.
// A message larger than the byte bound is still queued when nothing else waits.
func (s *Subscription) offer(m *Message, maxMessages, maxBytes int) bool {
	n := m.size()
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return true
	}
	if len(s.queue) >= maxMessages || (len(s.queue) > 0 && s.bytes+n > maxBytes) {
		s.mu.Unlock()
		return false
	}
	s.queue = append(s.queue, m)
	s.bytes += n
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
	return true
}

// finish ends the subscription with err unless it has ended already.
func (s *Subscription) finish(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.ended = true
	s.err = err
	close(s.done)
}
