package proxy

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/redisgate/redisgate/command"
	"github.com/redisgate/redisgate/pubsub"
)

// This file gives Redis-protocol sessions the pub/sub and MONITOR streams of the HTTP
// endpoints (sse.go): the same hub, the same channel namespacing and filtering, the same
// per-token bound on open streams, the same MONITOR rules.

// Stream is one subscription of a Session: channels, patterns or MONITOR, bounded as the
// hub bounds every subscriber (a subscriber too slow for its queue is dropped,
// pubsub.ErrSlowConsumer). Its owner reads it with Ready and Take until Done, then Closes it;
// unlike its Session, a Stream may be read by one goroutine while another closes it.
type Stream struct {
	sub   *pubsub.Subscription
	scope command.Scope
	open  *atomic.Int64
	once  sync.Once
}

// StreamMessage is one message as the client is to see it: names without the database's
// namespace. A MONITOR line is in Payload.
type StreamMessage struct {
	Pattern, Channel, Payload []byte
}

// Subscribe subscribes the session to channels, or patterns when pattern is set, named as
// the client names them; it counts as one open stream of the token, and one command.
func (ss *Session) Subscribe(pattern bool, names [][]byte) (*Stream, error) {
	kind := pubsub.Channels
	if pattern {
		kind = pubsub.Patterns
	}
	scope := ss.g.scope()
	rnames := make([]string, 0, len(names))
	for _, n := range names {
		r, err := scope.Channel(n, pattern)
		if err != nil {
			return nil, err
		}
		rnames = append(rnames, string(r))
	}
	return ss.stream(kind, rnames)
}

// Monitor opens a MONITOR stream of the session's database: read-write tokens only, and not
// on a Redis server that serves other databases too (its timing and clients would show).
func (ss *Session) Monitor() (*Stream, error) {
	switch {
	case ss.g.readOnly:
		return nil, errors.New("NOPERM this token is read-only and cannot run 'MONITOR'")
	case ss.g.db.shared:
		return nil, errors.New("ERR MONITOR is not available for a database whose Redis server serves other databases too")
	}
	return ss.stream(pubsub.Monitor, nil)
}

// stream opens a subscription of kind on the database's hub.
func (ss *Session) stream(kind pubsub.Kind, rnames []string) (*Stream, error) {
	g := ss.g
	if g.db.pubsub == nil {
		return nil, errors.New("ERR pub/sub is not enabled for this database")
	}
	if _, msg := ss.admit(1); msg != "" {
		return nil, errors.New(msg)
	}
	limit := ss.s.opts.MaxStreamsPerToken
	if limit <= 0 {
		limit = defaultMaxStreamsPerToken
	}
	if g.streams.Add(1) > int64(limit) {
		g.streams.Add(-1)
		return nil, errors.New("ERR too many open subscriptions for this token (limit " + strconv.Itoa(limit) + ")")
	}
	if msg := ss.charge(1); msg != "" {
		g.streams.Add(-1)
		return nil, errors.New(msg)
	}
	sub, err := ss.s.subscribe(g.db.pubsub, kind, rnames)
	if err != nil {
		g.streams.Add(-1)
		var rerr *pubsub.RedisError
		switch {
		case errors.As(err, &rerr):
			return nil, errors.New(rerr.Msg)
		case errors.Is(err, pubsub.ErrTooManyMonitors):
			return nil, errors.New("ERR too many MONITOR clients on this database")
		}
		return nil, errors.New("ERR backend: " + err.Error())
	}
	return &Stream{sub: sub, scope: g.scope(), open: g.streams}, nil
}

// Ready is signalled when messages wait to be taken.
func (st *Stream) Ready() <-chan struct{} { return st.sub.Ready() }

// Done is closed when the hub ends the stream; Err says why.
func (st *Stream) Done() <-chan struct{} { return st.sub.Done() }

// Err reports why the stream ended (pubsub.ErrSlowConsumer, pubsub.ErrClosed, pubsub.ErrLost).
func (st *Stream) Err() error { return st.sub.Err() }

// Take appends the waiting messages to dst, as the client is to see them, oldest first:
// messages of Redis's own channels that are not the database's notifications are left out.
func (st *Stream) Take(dst []StreamMessage) []StreamMessage {
	for _, m := range st.sub.Take(nil) {
		switch st.sub.Kind() {
		case pubsub.Monitor:
			dst = append(dst, StreamMessage{Payload: m.Payload})
		case pubsub.Patterns:
			if !st.scope.Visible(m.Channel) {
				continue // another database's notifications, or Redis's own channels
			}
			dst = append(dst, StreamMessage{Pattern: st.scope.Unchannel(m.Pattern), Channel: st.scope.Unchannel(m.Channel), Payload: m.Payload})
		default:
			dst = append(dst, StreamMessage{Channel: st.scope.Unchannel(m.Channel), Payload: m.Payload})
		}
	}
	return dst
}

// Close ends the stream and gives its place back to the token's bound.
func (st *Stream) Close() {
	st.once.Do(func() {
		st.sub.Close()
		st.open.Add(-1)
	})
}
