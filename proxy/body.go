package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/redisgate/redisgate/apierr"
)

// Request bodies are streamed (fasthttp's StreamRequestBody): fasthttp reads at most the
// first smallBody bytes before the handler runs, and the handler reads the rest into a
// buffer that grows with the bytes that arrive, never with the announced Content-Length.
// Every body buffer is charged to a server-wide budget of body memory in flight; a buffer
// that cannot grow within it waits briefly for other bodies to finish, then gets 503. The
// budget bounds the body memory alive; the buffers of finished bodies are left to the
// collector, which lets about as much again accumulate before it reclaims them (GOGC=100),
// so the default budget is a quarter of the memory limit. (Keeping them for reuse instead,
// in pools by size, measured worse: idle buffers count as live and raise the heap goal.)
//
// Before any of that, headerReceived looks at the headers alone: a request whose token is
// missing or wrong, or whose Content-Length is over MaxBodyBytes, has its body left unread
// (its framing is cleared and its connection closed after the answer), so nobody without a
// token makes the gateway hold a byte of body, and Expect: 100-continue is never answered
// 100 Continue for a body that would be refused.

// smallBody is what fasthttp prefetches of a streamed body and the size of the first buffer
// a body is read into.
const smallBody = 8 << 10

// bodyVerdictHeader carries headerReceived's refusal of a body to the handler. It is
// deleted from every request as its headers arrive, so a client cannot send it.
const bodyVerdictHeader = "Redisgate-Body-Refused"

// Values of bodyVerdictHeader.
const (
	verdictUnauthenticated = "auth"
	verdictTooLarge        = "size"
)

// headerReceived runs as soon as a request's headers are in, before fasthttp reads any of
// its body: it refuses the body of requests that will be refused anyway, and gives a
// body --read-timeout from now (the headers had HeaderTimeout).
func (s *Server) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	h.Del(bodyVerdictHeader)
	cl := h.ContentLength()
	if cl == 0 || cl == -2 { // -2: no framing, so a request has no body
		// No body to bound: the headers' deadline stays until the handler returns, and
		// fasthttp then sets the idle one. One timer update fewer per bodiless request.
		return fasthttp.RequestConfig{}
	}
	conf := fasthttp.RequestConfig{ReadTimeout: s.opts.ReadTimeout}
	verdict := ""
	switch {
	case !s.validToken(h):
		verdict = verdictUnauthenticated
	case cl > s.opts.MaxBodyBytes:
		verdict = verdictTooLarge
	default:
		return conf
	}
	// Leave the body on the wire: no 100 Continue, nothing buffered; the handler answers
	// and closes the connection, so the unread bytes are never taken for a request.
	h.SetContentLength(0)
	h.Del(fasthttp.HeaderExpect)
	h.Set(bodyVerdictHeader, verdict)
	return conf
}

// validToken reports whether the headers carry a token that opens a database.
func (s *Server) validToken(h *fasthttp.RequestHeader) bool {
	tok := credential(h, func() []byte {
		uri := h.RequestURI()
		i := bytes.IndexByte(uri, '?')
		if i < 0 {
			return nil
		}
		q := uri[i+1:]
		if j := bytes.IndexByte(q, '#'); j >= 0 {
			q = q[:j]
		}
		args := fasthttp.AcquireArgs()
		defer fasthttp.ReleaseArgs(args)
		args.ParseBytes(q)
		return bytes.Clone(args.Peek("_token"))
	})
	_, ok := s.lookupToken(tok)
	return ok
}

// bodyBudget bounds the memory of request bodies being read, server-wide.
type bodyBudget struct {
	max int64

	mu      sync.Mutex
	used    int64
	waiters int
	freed   chan struct{} // closed, and replaced, when bytes are released while someone waits
}

func newBodyBudget(max int64) *bodyBudget {
	return &bodyBudget{max: max, freed: make(chan struct{})}
}

// force charges n bytes whatever the budget says (the first small buffer of every body).
func (b *bodyBudget) force(n int64) {
	b.mu.Lock()
	b.used += n
	b.mu.Unlock()
}

// acquire charges n bytes once the budget has room for them, waiting until deadline or
// until done is closed; it reports whether they were charged.
func (b *bodyBudget) acquire(n int64, deadline time.Time, done <-chan struct{}) bool {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	b.mu.Lock()
	for {
		if b.used+n <= b.max {
			b.used += n
			b.mu.Unlock()
			return true
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			b.mu.Unlock()
			return false
		}
		freed := b.freed
		b.waiters++
		b.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		ok := true
		select {
		case <-freed:
		case <-timer.C:
		case <-done:
			ok = false
		}
		b.mu.Lock()
		b.waiters--
		if !ok {
			b.mu.Unlock()
			return false
		}
	}
}

// release gives n bytes back and wakes the waiters.
func (b *bodyBudget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	if b.waiters > 0 {
		close(b.freed)
		b.freed = make(chan struct{})
	}
	b.mu.Unlock()
}

// inUse reports the bytes charged.
func (b *bodyBudget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// BodyBytesInFlight reports the memory held by request bodies being read or served: it
// grows with the bytes received (at most twice them, plus one small buffer per body), and
// is what MaxInflightBody bounds.
func (s *Server) BodyBytesInFlight() int64 { return s.bodies.inUse() }

// heldBody is the memory behind one request's body, given back by releaseBody.
type heldBody struct {
	small   *[]byte // from smallBufs, or nil
	charged int64
}

// readBody reads the request's body into memory charged to the in-flight budget. On
// failure it answers the request and reports false; either way the caller calls
// releaseBody once nothing refers to the body any more.
func (s *Server) readBody(ctx *fasthttp.RequestCtx, held *heldBody) ([]byte, bool) {
	if !ctx.Request.IsBodyStream() {
		return ctx.PostBody(), true // read whole by fasthttp: a request not served by Serve
	}
	cl := ctx.Request.Header.ContentLength()
	if cl == 0 || cl < -1 { // -1: chunked; below: no framing, so no body
		return nil, true
	}
	limit := cl // the buffer never grows past it
	if cl < 0 {
		limit = s.opts.MaxBodyBytes + 1 // chunked: one byte more tells a body too large
	}
	held.small = s.smallBufs.Get().(*[]byte)
	held.charged = int64(cap(*held.small))
	s.bodies.force(held.charged)
	buf := (*held.small)[:0]
	r := ctx.RequestBodyStream()
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= limit {
				if cl < 0 {
					s.refuseBody(ctx, fasthttp.StatusRequestEntityTooLarge, "request body larger than "+strconv.Itoa(s.opts.MaxBodyBytes)+" bytes")
					return nil, false
				}
				break // all of a known length is in
			}
			grown := min(2*cap(buf), limit)
			if !s.bodies.acquire(int64(grown)-held.charged, time.Now().Add(s.opts.InflightBodyWait), s.base.Done()) {
				ctx.Response.Header.Set("Retry-After", "1")
				s.refuseBody(ctx, fasthttp.StatusServiceUnavailable, "too much request body in flight: retry later")
				return nil, false
			}
			nb := make([]byte, len(buf), grown)
			copy(nb, buf)
			buf = nb
			held.charged = int64(grown)
			if held.small != nil {
				s.smallBufs.Put(held.small)
				held.small = nil
			}
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == nil {
			continue
		}
		if err == io.EOF {
			if cl > 0 && len(buf) < cl {
				s.refuseBody(ctx, fasthttp.StatusBadRequest, "request body shorter than its Content-Length")
				return nil, false
			}
			if cl < 0 && len(buf) > s.opts.MaxBodyBytes {
				s.refuseBody(ctx, fasthttp.StatusRequestEntityTooLarge, "request body larger than "+strconv.Itoa(s.opts.MaxBodyBytes)+" bytes")
				return nil, false
			}
			break
		}
		if netErr := net.Error(nil); errors.As(err, &netErr) && netErr.Timeout() {
			s.refuseBody(ctx, fasthttp.StatusRequestTimeout, "request not received in time")
		} else {
			s.refuseBody(ctx, fasthttp.StatusBadRequest, "malformed HTTP request")
		}
		return nil, false
	}
	if held.small != nil {
		*held.small = buf
	}
	return buf, true
}

// releaseBody gives back what readBody took for held.
func (s *Server) releaseBody(held *heldBody) {
	if held.small != nil {
		*held.small = (*held.small)[:0]
		s.smallBufs.Put(held.small)
		held.small = nil
	}
	s.bodies.release(held.charged)
	held.charged = 0
}

// refuseBody answers a request whose body was not read whole; its connection is closed,
// as the rest of the body is still on the wire.
func (s *Server) refuseBody(ctx *fasthttp.RequestCtx, status int, msg string) {
	ctx.SetConnectionClose()
	s.fail(ctx, "", apierr.Status(status, msg))
}
