package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/redisgate/redisgate/apierr"
	"github.com/redisgate/redisgate/command"
	"github.com/redisgate/redisgate/pubsub"
)

// Defaults of the stream options.
const (
	defaultMaxStreamsPerToken = 100
	defaultStreamHeartbeat    = 15 * time.Second
	defaultStreamWriteTimeout = 30 * time.Second
)

// heartbeat is the SSE comment sent on a stream that has been silent for Options.StreamHeartbeat.
const heartbeat = ": heartbeat\n\n"

// isStreamPath reports whether path names /subscribe, /psubscribe or /monitor (any case).
func isStreamPath(path []byte) bool {
	if len(path) == 0 || path[0] != '/' {
		return false
	}
	first, _, _ := bytes.Cut(path[1:], []byte{'/'})
	for _, name := range []string{"subscribe", "psubscribe", "monitor"} {
		if bytes.EqualFold(first, []byte(name)) {
			return true
		}
	}
	return false
}

// serveStream answers /subscribe/<channel>…, /psubscribe/<pattern>… and /monitor with a
// Server-Sent Events stream. The request body and query parameters are ignored (the SDK
// sends "[]"). Nothing of ctx is kept after it returns except the connection, used by the
// stream writer only while fasthttp is still writing this response.
func (s *Server) serveStream(ctx *fasthttp.RequestCtx, g grant, path []byte) {
	if !ctx.IsGet() && !ctx.IsPost() {
		ctx.Response.Header.Set("Allow", "GET, POST, OPTIONS")
		s.fail(ctx, g.db.name, apierr.Status(fasthttp.StatusMethodNotAllowed, "streams take GET or POST"))
		return
	}
	args, err := command.FromPath(path, nil, false, nil, s.opts.MaxArgs)
	if err != nil {
		s.fail(ctx, g.db.name, apierr.Status(fasthttp.StatusBadRequest, ""+err.Error()))
		return
	}
	verb := strings.ToLower(string(args[0]))
	kind := pubsub.Monitor
	switch verb {
	case "subscribe":
		kind = pubsub.Channels
	case "psubscribe":
		kind = pubsub.Patterns
	}
	names := make([]string, 0, len(args)-1)  // as the tenant gave them
	rnames := make([]string, 0, len(args)-1) // as Redis knows them: namespaced on a shared server
	scope := g.scope()
	for _, a := range args[1:] {
		if bytes.ContainsAny(a, "\r\n") {
			s.fail(ctx, g.db.name, apierr.Status(fasthttp.StatusBadRequest, "channel and pattern names must not contain CR or LF"))
			return
		}
		r, err := scope.Channel(a, kind == pubsub.Patterns)
		if err != nil {
			s.fail(ctx, g.db.name, apierr.Redis(err.Error()))
			return
		}
		names = append(names, string(a))
		rnames = append(rnames, string(r))
	}
	if (kind == pubsub.Monitor) != (len(names) == 0) {
		s.fail(ctx, g.db.name, apierr.Status(fasthttp.StatusBadRequest, "wrong number of arguments for '"+verb+"' command"))
		return
	}
	if g.db.pubsub == nil {
		s.fail(ctx, g.db.name, apierr.Status(fasthttp.StatusBadRequest, "pub/sub is not enabled for this database"))
		return
	}
	if kind == pubsub.Monitor && g.db.shared {
		// MONITOR sees the whole server; its stream shows only this database's commands,
		// but other databases' clients and timing would still show through.
		s.fail(ctx, g.db.name, apierr.Status(fasthttp.StatusBadRequest, "/monitor is not available for a database whose Redis server serves other databases too"))
		return
	}
	if kind == pubsub.Monitor && g.readOnly {
		// MONITOR shows every client's commands and values: it needs a read-write token.
		s.fail(ctx, g.db.name, apierr.ReadOnly("MONITOR"))
		return
	}
	limit := s.opts.MaxStreamsPerToken
	if limit <= 0 {
		limit = defaultMaxStreamsPerToken
	}
	if g.streams.Add(1) > int64(limit) {
		g.streams.Add(-1)
		s.fail(ctx, g.db.name, apierr.Status(fasthttp.StatusTooManyRequests, "too many open streams for this token (limit "+strconv.Itoa(limit)+")"))
		return
	}
	if !s.charge(ctx, g, 1) {
		g.streams.Add(-1)
		return
	}
	sub, err := s.subscribe(g.db.pubsub, kind, rnames)
	if err != nil {
		g.streams.Add(-1)
		s.streamError(ctx, g.db, err)
		return
	}
	st := &stream{
		sub:          sub,
		names:        names,
		scope:        scope,
		open:         g.streams,
		revoked:      g.revoked,
		conn:         ctx.Conn(),
		shutdown:     ctx.Done(),
		heartbeat:    s.opts.StreamHeartbeat,
		writeTimeout: s.opts.WriteTimeout,
		log:          s.opts.Logger,
	}
	if st.heartbeat <= 0 {
		st.heartbeat = defaultStreamHeartbeat
	}
	if st.writeTimeout <= 0 {
		st.writeTimeout = defaultStreamWriteTimeout
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("text/event-stream")
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.Response.Header.Set("X-Accel-Buffering", "no")
	ctx.Response.ImmediateHeaderFlush = true
	// The stream reads the connection to notice the client's leaving (stream.watch): what it
	// reads is gone, so the connection ends with the stream instead of serving a next request.
	ctx.SetConnectionClose()
	// A deadline set by the handler stops fasthttp from applying WriteTimeout to the whole
	// stream; the stream writer moves it forward before every flush.
	_ = ctx.SetWriteDeadline(time.Now().Add(st.writeTimeout))
	ctx.SetBodyStreamWriter(st.run)
}

// subscribe starts a subscription of kind within the command timeout.
func (s *Server) subscribe(hub *pubsub.Hub, kind pubsub.Kind, names []string) (*pubsub.Subscription, error) {
	ctx, cancel := context.WithTimeout(s.base, s.opts.CommandTimeout)
	defer cancel()
	if kind == pubsub.Monitor {
		return hub.Monitor(ctx)
	}
	return hub.Subscribe(ctx, kind, names...)
}

// streamError answers a stream that could not start.
func (s *Server) streamError(ctx *fasthttp.RequestCtx, db *database, err error) {
	var rerr *pubsub.RedisError
	switch {
	case errors.As(err, &rerr):
		s.fail(ctx, db.name, apierr.Redis(rerr.Msg))
	case errors.Is(err, pubsub.ErrTooManyMonitors):
		s.fail(ctx, db.name, apierr.Status(fasthttp.StatusTooManyRequests, "too many MONITOR streams on this database"))
	default:
		s.fail(ctx, db.name, &apierr.Error{Status: fasthttp.StatusServiceUnavailable, Code: apierr.ERR, Msg: "backend: " + err.Error(), Err: err})
	}
}

// stream writes one subscription as Server-Sent Events. Its run method is the body stream
// writer: fasthttp runs it in a goroutine of its own and closes the pipe it writes to when
// the client connection fails, so every write error ends the stream.
type stream struct {
	sub          *pubsub.Subscription
	names        []string        // the channels or patterns as the client named them
	scope        command.Scope   // maps Redis's names back to the client's
	open         *atomic.Int64   // the token's open streams, decremented at the end
	conn         net.Conn        // the client connection, for write deadlines
	shutdown     <-chan struct{} // closed when the HTTP server shuts down
	revoked      <-chan struct{} // closed when a reload revokes the stream's token
	heartbeat    time.Duration
	writeTimeout time.Duration
	log          *slog.Logger
	scratch      []byte
}

func (st *stream) run(w *bufio.Writer) {
	defer func() {
		st.sub.Close()
		st.open.Add(-1)
	}()
	gone, stop := st.watch()
	defer stop()
	st.writePreamble(w)
	if st.flush(w) != nil {
		return
	}
	idle := time.NewTimer(st.heartbeat)
	defer idle.Stop()
	var batch []*pubsub.Message
	for {
		select {
		case <-st.sub.Ready():
			batch = st.sub.Take(batch[:0])
			for _, m := range batch {
				st.writeMessage(w, m)
			}
			clear(batch)
		case <-idle.C:
			w.WriteString(heartbeat)
		case <-st.sub.Done():
			for _, m := range st.sub.Take(batch[:0]) {
				st.writeMessage(w, m)
			}
			st.writeFinal(w, st.sub.Err())
			st.flush(w)
			return
		case <-st.shutdown:
			st.writeFinal(w, errShutdown)
			st.flush(w)
			return
		case <-st.revoked:
			st.writeFinal(w, errRevoked)
			st.flush(w)
			return
		case <-gone:
			st.log.Debug("stream ended: the client closed its connection", "kind", st.sub.Kind())
			return
		}
		if err := st.flush(w); err != nil {
			st.log.Debug("stream ended", "kind", st.sub.Kind(), "err", err)
			return
		}
		idle.Reset(st.heartbeat)
	}
}

// watch reads the client connection until the client closes it, which closes gone: a client
// that leaves is noticed at once, not at the second or third write after it left (the first
// write to a closed connection succeeds, and fasthttp's pipe between the stream and the
// connection hides the failure of the next one). Heartbeats remain for clients that vanish
// without closing. An SSE client sends nothing once its request is read, so any byte read, or
// an error, also ends the stream. stop ends the watch and waits for its goroutine.
func (st *stream) watch() (gone <-chan struct{}, stop func()) {
	closed := make(chan struct{})
	done := make(chan struct{})
	// The request's read deadline (header or body timeout) still holds: lift it.
	if err := st.conn.SetReadDeadline(time.Time{}); err != nil {
		close(closed)
		close(done)
		return closed, func() {}
	}
	var stopping atomic.Bool
	go func() {
		defer close(done)
		var b [1]byte
		_, err := st.conn.Read(b[:])
		if !stopping.Load() {
			st.log.Debug("stream client connection", "kind", st.sub.Kind(), "err", err)
			close(closed)
		}
	}()
	return closed, func() {
		stopping.Store(true)
		_ = st.conn.SetReadDeadline(time.Unix(1, 0)) // in the past: the Read returns
		<-done
	}
}

var (
	errShutdown = errors.New("server shutting down")
	errRevoked  = errors.New("token revoked")
)

// flush sends what w holds, allowing the client writeTimeout to take it.
func (st *stream) flush(w *bufio.Writer) error {
	if err := st.conn.SetWriteDeadline(time.Now().Add(st.writeTimeout)); err != nil {
		return err
	}
	return w.Flush()
}

// writePreamble writes what Redis answers to the subscription command: one confirmation
// per name with the stream's own running count, or "OK" for MONITOR.
func (st *stream) writePreamble(w *bufio.Writer) {
	kind := st.sub.Kind()
	if kind == pubsub.Monitor {
		w.WriteString("data: \"OK\"\n\n")
		return
	}
	for i, n := range st.names {
		w.WriteString("data: ")
		w.WriteString(kind.String())
		w.WriteByte(',')
		w.WriteString(n)
		w.WriteByte(',')
		w.WriteString(strconv.Itoa(i + 1))
		w.WriteString("\n\n")
	}
}

// writeMessage writes one event: "message,<channel>,<payload>", "pmessage,<pattern>,<channel>,<payload>" or a MONITOR line.
func (st *stream) writeMessage(w *bufio.Writer, m *pubsub.Message) {
	if st.sub.Kind() == pubsub.Patterns && !st.scope.Visible(m.Channel) {
		return // another database's notifications, or Redis's own channels
	}
	w.WriteString("data: ")
	switch st.sub.Kind() {
	case pubsub.Channels:
		w.WriteString("message,")
		st.writeField(w, st.scope.Unchannel(m.Channel))
		w.WriteByte(',')
	case pubsub.Patterns:
		w.WriteString("pmessage,")
		w.Write(st.scope.Unchannel(m.Pattern))
		w.WriteByte(',')
		st.writeField(w, st.scope.Unchannel(m.Channel))
		w.WriteByte(',')
	}
	st.writeField(w, m.Payload)
	w.WriteString("\n\n")
}

// writeFinal writes the last event of a stream the gateway ends: "error,<first name>,<reason>".
func (st *stream) writeFinal(w *bufio.Writer, err error) {
	var msg string
	switch {
	case errors.Is(err, pubsub.ErrSlowConsumer):
		msg = "ERR slow consumer: too many messages waiting for this stream, it is closed"
	case errors.Is(err, errShutdown), errors.Is(err, pubsub.ErrClosed):
		msg = "ERR server shutting down"
	case errors.Is(err, errRevoked):
		msg = "WRONGPASS this stream's token was revoked"
	case err != nil:
		msg = "ERR " + err.Error()
	default:
		msg = "ERR stream closed"
	}
	var first string
	if len(st.names) > 0 {
		first = st.names[0]
	}
	w.WriteString("data: error,")
	w.WriteString(first)
	w.WriteByte(',')
	st.writeField(w, []byte(msg))
	w.WriteString("\n\n")
}

// writeField writes b as is, or as a JSON string when it holds CR or LF, which would end
// the event early; the SDK's JSON parsing of messages turns it back into the original text.
func (st *stream) writeField(w *bufio.Writer, b []byte) {
	if bytes.IndexByte(b, '\n') < 0 && bytes.IndexByte(b, '\r') < 0 {
		w.Write(b)
		return
	}
	st.scratch = appendString(st.scratch[:0], b, false)
	w.Write(st.scratch)
}
