package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/redisgate/redisgate/apierr"
	"github.com/redisgate/redisgate/backend"
	"github.com/redisgate/redisgate/command"
	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/ratelimit"
	"github.com/redisgate/redisgate/resp"
)

// format is how a request wants its replies.
type format struct {
	base64 bool // Upstash-Encoding: base64
	resp2  bool // Upstash-Response-Format: resp2
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

const allowedMethods = "GET, POST, PUT, HEAD, OPTIONS"

// exposedHeaders are the response headers browsers may show to scripts of other origins.
const exposedHeaders = "Upstash-Sync-Token, RateLimit-Policy, RateLimit, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After"

// The headers of every answer, in canonical form: SetCanonical skips the key normalization
// and string copies of Set, a third of the cost (bench/ab.sh; about 0.5 µs per request).
var (
	headerAllowOrigin   = []byte("Access-Control-Allow-Origin")
	headerExposeHeaders = []byte("Access-Control-Expose-Headers")
	headerVary          = []byte("Vary")
	headerSyncToken     = []byte("Upstash-Sync-Token")
	valueExposedHeaders = []byte(exposedHeaders)
	valueOrigin         = []byte("Origin")
)

// Handle serves one REST request. It keeps nothing of ctx after it returns.
func (s *Server) Handle(ctx *fasthttp.RequestCtx) {
	if s.obs == nil {
		s.handle(ctx)
		return
	}
	start := time.Now()
	db := s.handle(ctx)
	s.obs.record(ctx, db, start)
}

// handle serves one REST request and returns the name of the database its token opened.
func (s *Server) handle(ctx *fasthttp.RequestCtx) (db string) {
	s.corsHeaders(ctx)
	var tok [32]byte
	ctx.Response.Header.SetCanonical(headerSyncToken, s.appendSyncToken(tok[:0]))
	// A body headerReceived refused is still on the wire: whatever the answer, the
	// connection closes after it.
	verdict := ctx.Request.Header.Peek(bodyVerdictHeader)
	if len(verdict) > 0 {
		ctx.SetConnectionClose()
	}
	switch {
	case ctx.IsOptions():
		s.preflight(ctx)
		return
	case ctx.IsGet(), ctx.IsPost(), ctx.IsPut(), ctx.IsHead():
	default:
		ctx.Response.Header.Set("Allow", allowedMethods)
		s.fail(ctx, "", apierr.Status(fasthttp.StatusMethodNotAllowed, "method "+string(ctx.Method())+" not allowed"))
		return
	}
	var limits [2]ratelimit.Decision
	if !s.limitIP(ctx, &limits[0]) {
		return
	}
	g, ok := s.auth(ctx)
	if !ok || string(verdict) == verdictUnauthenticated {
		s.fail(ctx, "", apierr.Unauthorized())
		return
	}
	if string(verdict) == verdictTooLarge {
		s.fail(ctx, g.db.name, apierr.Status(fasthttp.StatusRequestEntityTooLarge, "request body larger than "+strconv.Itoa(s.opts.MaxBodyBytes)+" bytes"))
		return
	}
	db = g.db.name
	if !s.limitUser(ctx, g, limits[:]) {
		return
	}
	f, err := requestFormat(ctx)
	if err != nil {
		s.fail(ctx, db, err)
		return
	}
	// The token is good: only now is the body read, into memory that grows with what arrives.
	var held heldBody
	defer s.releaseBody(&held)
	body, ok := s.readBody(ctx, &held)
	if !ok {
		return
	}
	path := ctx.Request.URI().PathOriginal()
	switch string(path) {
	case "/pipeline", "/multi-exec":
		if !ctx.IsPost() && !ctx.IsPut() {
			ctx.Response.Header.Set("Allow", "POST, PUT, OPTIONS")
			s.fail(ctx, db, apierr.Status(fasthttp.StatusMethodNotAllowed, string(path)+" takes POST with a JSON array of commands"))
			return
		}
		cmds, err := command.ParseJSONList(body, s.opts.MaxPipeline)
		if err != nil {
			s.fail(ctx, db, apierr.BadRequest(err.Error()))
			return
		}
		if string(path) == "/pipeline" {
			s.pipeline(ctx, g, cmds, f)
		} else {
			s.multiExec(ctx, g, cmds, f)
		}
	case "/":
		if len(body) == 0 || ctx.IsGet() || ctx.IsHead() {
			s.fail(ctx, db, apierr.BadRequest("no command: use POST / with a JSON array, or a command in the path"))
			return
		}
		args, err := command.ParseJSON(body)
		if err != nil {
			s.fail(ctx, db, apierr.BadRequest(err.Error()))
			return
		}
		s.single(ctx, g, args, f)
	default:
		if isStreamPath(path) {
			s.serveStream(ctx, g, path)
			return
		}
		if !ctx.IsPost() && !ctx.IsPut() {
			body = nil
		}
		var query []command.Arg
		for k, v := range ctx.QueryArgs().All() {
			query = append(query, command.Arg{Key: k, Value: v})
		}
		args, err := command.FromPath(path, body, len(body) > 0, query, s.opts.MaxArgs)
		if err != nil {
			s.fail(ctx, db, apierr.BadRequest(err.Error()))
			return
		}
		s.single(ctx, g, args, f)
	}
	return
}

// auth returns what the request's token opens.
func (s *Server) auth(ctx *fasthttp.RequestCtx) (grant, bool) {
	return s.lookupToken(credential(&ctx.Request.Header, func() []byte { return ctx.QueryArgs().Peek("_token") }))
}

// credential returns the token a request presents. A present Authorization header is the
// only credential looked at; without it, the _token query parameter, which query returns, is.
func credential(h *fasthttp.RequestHeader, query func() []byte) []byte {
	if a := h.Peek(fasthttp.HeaderAuthorization); len(a) > 0 {
		const scheme = "bearer "
		if len(a) <= len(scheme) || !bytes.EqualFold(a[:len(scheme)], []byte(scheme)) {
			return nil
		}
		return bytes.TrimSpace(a[len(scheme):])
	}
	return query()
}

// lookupToken returns what tok opens.
func (s *Server) lookupToken(tok []byte) (grant, bool) {
	if len(tok) == 0 {
		return grant{}, false
	}
	// Looking up the SHA-256 of the token leaks nothing usable about stored tokens through timing.
	g, ok := s.access.Load().tokens[sha256.Sum256(tok)]
	return g, ok
}

func requestFormat(ctx *fasthttp.RequestCtx) (format, error) {
	var f format
	switch enc := ctx.Request.Header.Peek("Upstash-Encoding"); {
	case len(enc) == 0:
	case bytes.EqualFold(enc, []byte("base64")):
		f.base64 = true
	default:
		return f, apierr.BadRequest("unsupported Upstash-Encoding " + strconv.Quote(string(enc)) + ": only base64")
	}
	switch rf := ctx.Request.Header.Peek("Upstash-Response-Format"); {
	case len(rf) == 0, bytes.EqualFold(rf, []byte("json")):
	case bytes.EqualFold(rf, []byte("resp2")):
		f.resp2 = true
	default:
		return f, apierr.BadRequest("unsupported Upstash-Response-Format " + strconv.Quote(string(rf)) + ": json or resp2")
	}
	if f.base64 && f.resp2 {
		return f, apierr.BadRequest("Upstash-Encoding base64 cannot be combined with Upstash-Response-Format resp2")
	}
	return f, nil
}

func (s *Server) corsHeaders(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	h.SetCanonical(headerAllowOrigin, s.corsOrigin)
	h.SetCanonical(headerExposeHeaders, valueExposedHeaders)
	if s.opts.CORSOrigin != "*" {
		h.SetCanonical(headerVary, valueOrigin)
	}
}

func (s *Server) preflight(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	h.Set("Access-Control-Allow-Methods", allowedMethods)
	if req := ctx.Request.Header.Peek("Access-Control-Request-Headers"); len(req) > 0 {
		h.SetBytesV("Access-Control-Allow-Headers", req)
	} else {
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Upstash-Encoding, Upstash-Response-Format, Upstash-Sync-Token, Upstash-Telemetry-Runtime, Upstash-Telemetry-Platform, Upstash-Telemetry-Sdk")
	}
	h.Set("Access-Control-Max-Age", "86400")
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

// route says where a batch may run.
type route struct {
	write    bool          // some command may write
	blocking bool          // some command blocks its connection
	block    time.Duration // how long it may block
	script   bool          // some command runs a script or function
}

// scriptGrace is how long a request whose script was stopped at the command timeout waits
// for the script's error reply.
const scriptGrace = time.Second

// run sends b to db's backend as r allows (see execute); it returns the batch holding the
// replies (b, or the copy sent again) or, on failure, answers the request and returns nil.
func (s *Server) run(ctx *fasthttp.RequestCtx, db *database, b *pool.Batch, r route) *pool.Batch {
	b, err := s.execute(db, b, r, func(rctx context.Context, b *pool.Batch) error {
		return s.dispatch(rctx, ctx, db, b, r)
	})
	if err == nil {
		return b
	}
	s.backendError(ctx, db, err)
	return nil
}

// execute sends b to db through send, under the command deadline (plus r.block, or the time a
// runaway script takes to be stopped), sends it again while Redis refuses it whole as BUSY,
// and waits for a write's invalidations to reach the read cache; it returns the batch holding
// the replies (b, or the copy sent again). HTTP requests and RESP sessions share it.
func (s *Server) execute(db *database, b *pool.Batch, r route, send func(context.Context, *pool.Batch) error) (*pool.Batch, error) {
	var rctx context.Context
	switch {
	case r.blocking:
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(s.base, s.opts.CommandTimeout+r.block)
		defer cancel()
	case r.script && db.killScripts != nil:
		// A script still running at the command timeout is stopped, so that it cannot keep
		// Redis busy for every tenant; the request waits for its error reply meanwhile.
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(s.base, s.opts.CommandTimeout+killWindow+scriptGrace)
		defer cancel()
		s.bg.Add(1)
		t := time.AfterFunc(s.opts.CommandTimeout, func() {
			defer s.bg.Done()
			s.killScripts(db)
		})
		defer func() {
			if t.Stop() {
				s.bg.Done()
			}
		}()
	default:
		rctx = s.deadlines.context()
	}
	err := send(rctx, b)
	for err == nil && !r.script && allBusy(b) {
		// Redis refused the whole batch, running none of it, while another request's script
		// ran past Redis's busy-reply-threshold: send it again once the script is stopped.
		select {
		case <-rctx.Done():
			err = fmt.Errorf("%w: %w (Redis was busy running a script)", pool.ErrTimeout, rctx.Err())
		case <-time.After(busyRetry):
			again := b.Again()
			b.Release()
			b = again
			err = send(rctx, b)
		}
	}
	if r.write && db.cache != nil {
		// Answer a write only once its invalidations have reached the read cache, so that
		// no read through this gateway is answered with a value it replaced.
		db.cache.Sync(s.deadlines.context())
	}
	return b, err
}

// busyRetry is how long a batch Redis refused as BUSY waits before it is sent again.
const busyRetry = 25 * time.Millisecond

// dispatch sends b to db's backend once, as r says, and gives the answer its sync token.
func (s *Server) dispatch(rctx context.Context, ctx *fasthttp.RequestCtx, db *database, b *pool.Batch, r route) error {
	rt := backend.Route{Write: r.write, Blocking: r.blocking}
	if db.routes {
		var err error
		if rt.Mode, rt.After, err = requestAsks(ctx); err != nil {
			return err
		}
	}
	res, err := db.backend.Do(rctx, b, rt)
	if err != nil {
		return err
	}
	s.answerPosition(ctx, db, res)
	return nil
}

// allBusy reports whether Redis answered every command of b with a BUSY error: it ran none.
func allBusy(b *pool.Batch) bool {
	for i := range b.Len() {
		if !bytes.HasPrefix(b.Reply(i), []byte("-BUSY ")) {
			return false
		}
	}
	return b.Len() > 0
}

// backendError answers a request whose Redis work on db failed with err.
func (s *Server) backendError(ctx *fasthttp.RequestCtx, db *database, err error) {
	s.fail(ctx, db.name, backendFailure(db.name, err))
}

// killWindow bounds how long the gateway keeps trying to stop a runaway script: Redis
// takes SCRIPT KILL only once the script has run for its busy-reply-threshold (5 s by default).
const killWindow = 10 * time.Second

// killScripts stops the scripts and functions running on db's Redis, one caller at a time:
// requests whose scripts outlive the command timeout together need one kill.
func (s *Server) killScripts(db *database) {
	if !db.killing.CompareAndSwap(false, true) {
		return
	}
	defer db.killing.Store(false)
	ctx, cancel := context.WithTimeout(s.base, killWindow)
	defer cancel()
	for {
		actx, acancel := context.WithTimeout(ctx, 250*time.Millisecond)
		err := db.killScripts(actx)
		acancel()
		switch {
		case err == nil:
			s.opts.Logger.Warn("stopped a script that ran past the command timeout", "database", db.name, "timeout", s.opts.CommandTimeout)
			return
		case ctx.Err() != nil || strings.Contains(err.Error(), "UNKILLABLE"):
			s.opts.Logger.Error("a script ran past the command timeout and could not be stopped", "database", db.name, "err", err)
			return
		}
		// Redis does not answer yet: the script has not reached its busy-reply-threshold.
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// single runs one command.
func (s *Server) single(ctx *fasthttp.RequestCtx, g grant, args [][]byte, f format) {
	if !s.charge(ctx, g, 1) {
		return
	}
	if len(args) > s.opts.MaxArgs {
		s.fail(ctx, g.db.name, apierr.BadRequest("more than "+strconv.Itoa(s.opts.MaxArgs)+" arguments"))
		return
	}
	plan, err := g.scope().Check(args)
	if err != nil {
		if f.resp2 {
			writeRaw(ctx, resp.AppendError(nil, err.Error()))
			return
		}
		s.fail(ctx, g.db.name, apierr.Redis(err.Error()))
		return
	}
	args, info := plan.Args, plan.Info
	if info.Kind == command.Local {
		raw := s.local(g.db, args)
		if f.resp2 {
			writeRaw(ctx, raw)
			return
		}
		out, _, _ := appendEntry(nil, raw, f.base64)
		writeJSON(ctx, fasthttp.StatusOK, out)
		return
	}
	var c cached
	if edgeCacheable(ctx, g.db, args) {
		defer func() { s.edgeAnswer(ctx, g.db, f, c.ans) }()
	}
	loadHash := g.db.scripts.Rewrite(args)
	c, fromCache := s.cachedRead(ctx, g.db, args, f)
	switch {
	case fromCache && c.raw == nil:
		return
	case c.ans != nil:
		writeShared(ctx, f, c.ans.body)
		return
	}
	raw := c.raw
	if !fromCache {
		b := pool.NewBatch(1)
		b.Add(args...)
		if b = s.run(ctx, g.db, b, route{write: !info.NoWrite, blocking: info.Kind == command.Blocking, block: plan.Block, script: info.Script}); b == nil {
			return
		}
		defer b.Release()
		raw = fixLoad(b.Reply(0), loadHash)
	}
	if f.resp2 {
		if !fromCache {
			writeRaw(ctx, raw)
			return
		}
		writeShared(ctx, f, raw)
		if c.hit {
			keepAnswer(g.db, args, f, raw, nil)
		}
		return
	}
	buf := bufPool.Get().(*[]byte)
	out, isErr, err := appendEntry((*buf)[:0], raw, f.base64)
	switch {
	case err != nil:
		s.fail(ctx, g.db.name, apierr.Status(fasthttp.StatusBadGateway, "backend: "+err.Error()))
	case isErr:
		writeJSON(ctx, fasthttp.StatusBadRequest, out)
	default:
		writeJSON(ctx, fasthttp.StatusOK, out)
		if c.hit {
			keepAnswer(g.db, args, f, raw, out)
		}
	}
	*buf = out
	bufPool.Put(buf)
}

// local runs a command the gateway answers itself (command.Local) and returns its reply. The
// only one is SCRIPT FLUSH on a server that serves other databases too: the database forgets
// the scripts it loaded (see script.Mapper.Namespace), the others keep theirs.
func (s *Server) local(db *database, _ [][]byte) []byte {
	db.scripts.Flush()
	return []byte("+OK\r\n")
}

// fixLoad answers a successful SCRIPT LOAD of a rewritten script with the original script's hash.
func fixLoad(raw []byte, loadHash string) []byte {
	if loadHash == "" || len(raw) == 0 || raw[0] == resp.Error {
		return raw
	}
	return resp.AppendBulk(nil, []byte(loadHash))
}

// pipeline runs cmds in order, not atomically; refused commands get their error entry without being sent.
func (s *Server) pipeline(ctx *fasthttp.RequestCtx, g grant, cmds [][][]byte, f format) {
	if !s.charge(ctx, g, len(cmds)) {
		return
	}
	refusals := make([]error, len(cmds))
	locals := make([][]byte, len(cmds)) // answers the gateway gives itself
	loads := make([]string, len(cmds))
	blocking, block, write, script := false, time.Duration(0), false, false
	scope := g.scope()
	b := pool.NewBatch(len(cmds))
	for i, args := range cmds {
		if len(args) > s.opts.MaxArgs {
			refusals[i] = errors.New("ERR more than " + strconv.Itoa(s.opts.MaxArgs) + " arguments")
			continue
		}
		plan, err := scope.Check(args)
		if refusals[i] = err; err != nil {
			continue
		}
		args = plan.Args
		if plan.Info.Kind == command.Local {
			locals[i] = s.local(g.db, args)
			continue
		}
		loads[i] = g.db.scripts.Rewrite(args)
		write = write || !plan.Info.NoWrite
		script = script || plan.Info.Script
		if plan.Info.Kind == command.Blocking {
			// One blocking command sends the whole pipeline, in order, to a dedicated connection.
			blocking, block = true, block+plan.Block
		}
		b.Add(args...)
	}
	if b.Len() > 0 {
		if b = s.run(ctx, g.db, b, route{write: write, blocking: blocking, block: block, script: script}); b == nil {
			return
		}
	}
	defer b.Release()
	buf := bufPool.Get().(*[]byte)
	out := (*buf)[:0]
	defer func() { *buf = out; bufPool.Put(buf) }() // on every return: the answer is copied out
	if !f.resp2 {
		out = append(out, '[')
	}
	next := 0
	for i := range cmds {
		var raw []byte
		switch {
		case refusals[i] != nil:
			raw = resp.AppendError(nil, refusals[i].Error())
		case locals[i] != nil:
			raw = locals[i]
		default:
			raw = fixLoad(b.Reply(next), loads[i])
			next++
		}
		if f.resp2 {
			out = append(out, raw...)
			continue
		}
		if i > 0 {
			out = append(out, ',')
		}
		var err error
		if out, _, err = appendEntry(out, raw, f.base64); err != nil {
			s.fail(ctx, g.db.name, apierr.Status(fasthttp.StatusBadGateway, "backend: "+err.Error()))
			return
		}
	}
	if f.resp2 {
		writeRaw(ctx, out)
	} else {
		out = append(out, ']')
		writeJSON(ctx, fasthttp.StatusOK, out)
	}
}

// multiExec runs cmds as one MULTI … EXEC transaction written contiguously on one connection.
// A transaction that cannot run as a whole gets one error object, 400.
func (s *Server) multiExec(ctx *fasthttp.RequestCtx, g grant, cmds [][][]byte, f format) {
	if !s.charge(ctx, g, len(cmds)) {
		return
	}
	loads := make([]string, len(cmds))
	b := pool.NewBatch(len(cmds) + 2)
	b.Add([]byte("MULTI"))
	script := false
	scope := g.scope()
	for i, args := range cmds {
		if len(args) > s.opts.MaxArgs {
			s.fail(ctx, g.db.name, apierr.BadRequest("command "+strconv.Itoa(i)+": more than "+strconv.Itoa(s.opts.MaxArgs)+" arguments"))
			return
		}
		// Inside MULTI nothing blocks: Redis runs blocking commands as their non-blocking forms.
		plan, err := scope.CheckInTransaction(args)
		if err != nil {
			s.fail(ctx, g.db.name, apierr.Redis(err.Error()+" (command "+strconv.Itoa(i)+"; transaction discarded)"))
			return
		}
		args = plan.Args
		loads[i] = g.db.scripts.Rewrite(args)
		script = script || plan.Info.Script
		b.Add(args...)
	}
	b.Add([]byte("EXEC"))
	if b = s.run(ctx, g.db, b, route{write: true, script: script}); b == nil {
		return
	}
	defer b.Release()
	if r := b.Reply(0); r[0] == resp.Error {
		s.fail(ctx, g.db.name, apierr.Redis(string(r[1:len(r)-2])))
		return
	}
	exec := b.Reply(len(cmds) + 1)
	kind, msg, n, rest, err := resp.Next(exec)
	switch {
	case err != nil:
		s.fail(ctx, g.db.name, apierr.Status(fasthttp.StatusBadGateway, "backend: "+err.Error()))
		return
	case kind == resp.Error:
		// Name the queue-time error that made Redis discard the transaction.
		for i := range cmds {
			if q := b.Reply(i + 1); q[0] == resp.Error {
				s.fail(ctx, g.db.name, apierr.Redis(string(msg)+" (command "+strconv.Itoa(i)+": "+string(q[1:len(q)-2])+")"))
				return
			}
		}
		s.fail(ctx, g.db.name, apierr.Redis(string(msg)))
		return
	case kind != resp.Array || n != len(cmds):
		s.fail(ctx, g.db.name, apierr.Redis("EXECABORT transaction aborted"))
		return
	}
	buf := bufPool.Get().(*[]byte)
	out := append((*buf)[:0], '[')
	defer func() { *buf = out; bufPool.Put(buf) }() // on every return: the answer is copied out
	for i := range n {
		after, err := resp.Skip(rest)
		if err != nil {
			s.fail(ctx, g.db.name, apierr.Status(fasthttp.StatusBadGateway, "backend: "+err.Error()))
			return
		}
		if i > 0 {
			out = append(out, ',')
		}
		if out, _, err = appendEntry(out, fixLoad(rest[:len(rest)-len(after)], loads[i]), f.base64); err != nil {
			s.fail(ctx, g.db.name, apierr.Status(fasthttp.StatusBadGateway, "backend: "+err.Error()))
			return
		}
		rest = after
	}
	out = append(out, ']')
	writeJSON(ctx, fasthttp.StatusOK, out)
}

func writeJSON(ctx *fasthttp.RequestCtx, status int, body []byte) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(body)
}

// writeShared answers body, which the read cache shares and nobody changes, without copying it.
func writeShared(ctx *fasthttp.RequestCtx, f format, body []byte) {
	ctx.SetStatusCode(fasthttp.StatusOK)
	if f.resp2 {
		ctx.SetContentType("application/octet-stream")
	} else {
		ctx.SetContentType("application/json")
	}
	ctx.Response.SetBodyRaw(body)
}

func writeRaw(ctx *fasthttp.RequestCtx, body []byte) {
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/octet-stream")
	ctx.SetBody(body)
}
