package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strconv"
	"time"

	"github.com/redisgate/redisgate/apierr"
	"github.com/redisgate/redisgate/backend"
	"github.com/redisgate/redisgate/cluster"
	"github.com/redisgate/redisgate/command"
	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/ratelimit"
	"github.com/redisgate/redisgate/resp"
)

// This file is the gateway's side of listeners that speak the Redis protocol (package
// respserver): a Session runs a client's commands with exactly the checks of the HTTP path
// (the command table's Scope.Check, the IP and token rate limits per command, the quota,
// script rewriting) on the database's backends, and hands back raw RESP2 replies. A session
// in WATCH runs on a connection it holds alone (Watch, Unpin); its pub/sub and MONITOR
// streams are in sessionstream.go.

// ErrWrongPass is the error of a token that opens no database.
var ErrWrongPass = errors.New("WRONGPASS invalid username-password pair or user is disabled")

// Session is one client of a Redis-protocol listener, authenticated by a token.
//
// A Session is used by one goroutine at a time (the client's connection); its commands run
// in the order they are given, and each reply is handed back to that caller only.
type Session struct {
	s      *Server
	g      grant
	ipKey  string           // the client IP's rate-limit key
	ipRate ratelimit.Rate   // as the access table was when the session opened
	pos    backend.Position // what the session's answers reflect so far: its reads see its writes

	// watching is set from the first WATCH to EXEC, DISCARD or UNWATCH (Unpin); pin is the
	// connection that holds the watched keys, nil once lost (Drop, a failure): EXEC then
	// answers as if a watched key changed.
	watching bool
	pin      *pool.Pin

	// What Do keeps per command, reused from call to call.
	refusals []string
	locals   [][]byte
	loads    []string
}

// OpenSession returns a Session for the database token opens, for a client at ip; it fails
// with ErrWrongPass for an unknown token, or with the rate-limit error when ip is over its
// limit (checked first, so that guessing tokens is slowed down as over HTTP).
func (s *Server) OpenSession(token []byte, ip netip.Addr) (*Session, error) {
	t := s.access.Load()
	ss := &Session{s: s, ipKey: "ip:" + ip.String(), ipRate: t.ipRate}
	if _, msg := ss.limit("ip", ss.ipKey, ss.ipRate, 1); msg != "" {
		return nil, errors.New(msg)
	}
	g, ok := s.lookupToken(token)
	if !ok {
		return nil, ErrWrongPass
	}
	ss.g = g
	return ss, nil
}

// Database returns the name of the session's database.
func (ss *Session) Database() string { return ss.g.db.name }

// LogicalDB returns the logical database number the session's token opens.
func (ss *Session) LogicalDB() int { return ss.g.db.logicalDB }

// ReadOnly reports whether the session's token is read-only.
func (ss *Session) ReadOnly() bool { return ss.g.readOnly }

// Revoked is closed when a Reload removes the session's token or changes what it opens.
func (ss *Session) Revoked() <-chan struct{} { return ss.g.revoked }

// CheckQueued returns the error a command queued inside MULTI is refused with, or nil.
func (ss *Session) CheckQueued(args [][]byte) error {
	if ss.s.opts.MaxArgs > 0 && len(args) > ss.s.opts.MaxArgs {
		return errors.New("ERR more than " + strconv.Itoa(ss.s.opts.MaxArgs) + " arguments")
	}
	_, err := ss.g.scope().CheckInTransaction(args)
	return err
}

// limit checks n events, in order, against rate for key: it returns how many of them may
// happen (the first k) and the error text of the denial of the rest, or "".
func (ss *Session) limit(name, key string, rate ratelimit.Rate, n int) (int, string) {
	l := ss.s.opts.Limiter
	if l == nil || rate.IsZero() {
		return n, ""
	}
	d, k := l.AllowN(ss.s.base, name, key, rate, n)
	switch {
	case k == n:
		return n, ""
	case d.Err != nil:
		return k, "ERR rate limiter unavailable"
	}
	return k, "ERR rate limit exceeded: " + name + " limit " + rate.String() + ", retry in " + seconds(d.RetryAfter)
}

// seconds formats d as seconds with one decimal, rounded up: "1.2s".
func seconds(d time.Duration) string {
	tenths := (d + 99*time.Millisecond) / (100 * time.Millisecond)
	return strconv.FormatFloat(float64(tenths)/10, 'f', 1, 64) + "s"
}

// charge counts n commands against the quota and returns the error text of a refusal, or "".
func (ss *Session) charge(n int) string {
	l := ss.s.opts.Limiter
	if l == nil || ss.g.quota.IsZero() {
		return ""
	}
	q := l.Charge(ss.s.base, ss.g.user, ss.g.quota, n)
	switch {
	case q.Allowed:
		return ""
	case q.Err != nil:
		return "ERR rate limiter unavailable"
	}
	return "ERR " + q.Window + " command quota exceeded: " + strconv.FormatInt(q.Remaining, 10) + " left, " +
		strconv.Itoa(n) + " asked; retry in " + seconds(q.RetryAfter)
}

// admit checks the rate limits of n commands, in order: it returns how many of them pass
// (the first k) and the error text the rest are refused with.
func (ss *Session) admit(n int) (int, string) {
	if ss.s.opts.Limiter == nil || n == 0 {
		return n, ""
	}
	k, msg := ss.limit("ip", ss.ipKey, ss.ipRate, n)
	if k == 0 {
		return 0, msg
	}
	if k2, msg2 := ss.limit("token", ss.g.user, ss.g.rate, k); k2 < k || msg == "" {
		return k2, msg2
	}
	return k, msg
}

// Do runs cmds in order, not atomically, under the command timeout, and calls emit with the
// raw RESP2 reply of each, in order (refusals and backend failures as error replies). The
// commands Redis runs travel as one batch. A reply is valid only during its emit call; Do
// stops at, and returns, the first error emit returns.
func (ss *Session) Do(cmds [][][]byte, emit func(reply []byte) error) error {
	s, db := ss.s, ss.g.db
	refusals, locals, loads := grow(ss.refusals, len(cmds)), grow(ss.locals, len(cmds)), grow(ss.loads, len(cmds))
	defer func() {
		clear(refusals)
		clear(locals)
		clear(loads)
		if cap(refusals) <= maxKeptCommands { // a pipeline of thousands does not stay
			ss.refusals, ss.locals, ss.loads = refusals[:0], locals[:0], loads[:0]
		}
	}()
	admitted, refusal := ss.admit(len(cmds))
	for i := admitted; i < len(cmds); i++ {
		refusals[i] = refusal
	}
	if msg := ss.charge(admitted); msg != "" {
		for i := range refusals {
			if refusals[i] == "" {
				refusals[i] = msg
			}
		}
	}
	var r route
	scope := ss.g.scope()
	b := pool.NewBatch(len(cmds))
	for i, args := range cmds {
		if refusals[i] != "" {
			continue
		}
		if s.opts.MaxArgs > 0 && len(args) > s.opts.MaxArgs {
			refusals[i] = "ERR more than " + strconv.Itoa(s.opts.MaxArgs) + " arguments"
			continue
		}
		plan, err := scope.Check(args)
		if err != nil {
			refusals[i] = err.Error()
			continue
		}
		args = plan.Args
		if plan.Info.Kind == command.Local {
			locals[i] = s.local(db, args)
			continue
		}
		loads[i] = db.scripts.Rewrite(args)
		r.write = r.write || !plan.Info.NoWrite
		r.script = r.script || plan.Info.Script
		if plan.Info.Kind == command.Blocking {
			// One blocking command sends the whole batch, in order, to a dedicated connection.
			r.blocking, r.block = true, r.block+plan.Block
		}
		b.Add(args...)
	}
	failure := ""
	if b.Len() > 0 {
		var err error
		if b, err = ss.run(b, r); err != nil {
			failure = ss.backendMessage(err)
		}
	}
	defer b.Release()
	next := 0
	for i := range cmds {
		var raw []byte
		switch {
		case refusals[i] != "":
			raw = resp.AppendError(nil, refusals[i])
		case locals[i] != nil:
			raw = locals[i]
		case failure != "":
			raw = resp.AppendError(nil, failure)
		default:
			raw = fixLoad(b.Reply(next), loads[i])
			next++
		}
		if err := emit(raw); err != nil {
			return err
		}
	}
	return nil
}

// maxKeptCommands is the largest batch whose per-command scratch a Session keeps.
const maxKeptCommands = 1024

// grow returns s resized to n zero elements, reusing its array when it is large enough.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// Transaction runs cmds as one MULTI … EXEC written contiguously on one connection and calls
// emit once with EXEC's raw RESP2 reply: the array of the commands' replies, or the error that
// discarded the transaction (a refused command, a queue-time error Redis found, a backend
// failure).
func (ss *Session) Transaction(cmds [][][]byte, emit func(reply []byte) error) error {
	s, db := ss.s, ss.g.db
	fail := func(msg string) error { return emit(resp.AppendError(nil, msg)) }
	if ss.watching && (ss.pin == nil || ss.pin.Lost()) {
		// The connection that held the watched keys is gone: what changed meanwhile is not
		// known, so the transaction fails as if a watched key changed, and the client retries.
		return emit([]byte("*-1\r\n"))
	}
	if k, msg := ss.admit(len(cmds)); k < len(cmds) {
		return fail(msg)
	}
	if msg := ss.charge(len(cmds)); msg != "" {
		return fail(msg)
	}
	loads := make([]string, len(cmds))
	b := pool.NewBatch(len(cmds) + 2)
	b.Add([]byte("MULTI"))
	r := route{write: true}
	scope := ss.g.scope()
	for i, args := range cmds {
		if s.opts.MaxArgs > 0 && len(args) > s.opts.MaxArgs {
			b.Release()
			return fail("EXECABORT Transaction discarded because of previous errors: command " + strconv.Itoa(i) + " has more than " + strconv.Itoa(s.opts.MaxArgs) + " arguments")
		}
		plan, err := scope.CheckInTransaction(args)
		if err != nil {
			b.Release()
			return fail("EXECABORT Transaction discarded because of previous errors: " + err.Error())
		}
		loads[i] = db.scripts.Rewrite(plan.Args)
		r.script = r.script || plan.Info.Script
		b.Add(plan.Args...)
	}
	b.Add([]byte("EXEC"))
	b, err := ss.run(b, r)
	if err != nil {
		return fail(ss.backendMessage(err))
	}
	defer b.Release()
	if q := b.Reply(0); q[0] == resp.Error {
		return emit(q)
	}
	exec := b.Reply(len(cmds) + 1)
	kind, msg, n, rest, err := resp.Next(exec)
	switch {
	case err != nil:
		return fail("ERR backend: " + err.Error())
	case kind == resp.Error:
		// Name the queue-time error that made Redis discard the transaction.
		for i := range cmds {
			if q := b.Reply(i + 1); q[0] == resp.Error {
				return fail(string(msg) + " (command " + strconv.Itoa(i) + ": " + string(q[1:len(q)-2]) + ")")
			}
		}
		return emit(exec)
	case kind != resp.Array || n != len(cmds):
		return emit(exec) // a null array: a WATCHed key changed (not possible here), passed on
	}
	fixed := false
	for _, h := range loads {
		fixed = fixed || h != ""
	}
	if !fixed {
		return emit(exec)
	}
	out := append([]byte(nil), exec[:len(exec)-len(rest)]...)
	for i := range n {
		after, err := resp.Skip(rest)
		if err != nil {
			return fail("ERR backend: " + err.Error())
		}
		out = append(out, fixLoad(rest[:len(rest)-len(after)], loads[i])...)
		rest = after
	}
	return emit(out)
}

// run sends b to the session's database as r allows, as Server.run does for HTTP requests
// (see Server.execute); it returns the batch holding the replies (b, or the copy sent again).
func (ss *Session) run(b *pool.Batch, r route) (*pool.Batch, error) {
	return ss.s.execute(ss.g.db, b, r, func(rctx context.Context, b *pool.Batch) error {
		return ss.dispatch(rctx, b, r)
	})
}

// dispatch sends b where r says, once, after the session's latest answer (its reads see its
// writes on replicas).
func (ss *Session) dispatch(rctx context.Context, b *pool.Batch, r route) error {
	db := ss.g.db
	if ss.Pinned() {
		pin := ss.pin
		if err := pin.Do(rctx, b); err != nil {
			return err
		}
		if a, ok := db.backend.(backend.PinAcker); ok && r.write {
			// Strong mode: the writes are answered once a replica has them, as on the
			// acknowledged-write connections.
			return a.AckPinned(rctx, pin)
		}
		return nil
	}
	res, err := db.backend.Do(rctx, b, backend.Route{Write: r.write, Blocking: r.blocking, After: ss.pos})
	if err != nil {
		return err
	}
	if !res.Pos.IsZero() {
		ss.pos = res.Pos
	}
	if res.Lost {
		ss.s.opts.Logger.Warn("a session's write was lost in a failover", "database", db.name)
	}
	return nil
}

// backendMessage is the error reply text of a batch whose Redis work failed with err, as the
// HTTP path words it (backendFailure).
func (ss *Session) backendMessage(err error) string {
	f := backendFailure(ss.g.db.name, err)
	var e *apierr.Error
	if errors.As(f, &e) && e.Level >= slog.LevelWarn {
		ss.s.opts.Logger.Log(context.Background(), e.Level, "backend error", "database", ss.g.db.name, "err", err)
	}
	return f.Error()
}

// ErrTooManyPins is the refusal of a WATCH past the listener's bound of pinned connections.
var ErrTooManyPins = errors.New("ERR too many clients are in WATCH on this database now; retry shortly, or use a Lua script for check-and-set")

// Watch runs WATCH args (its keys) on a connection the session then holds until Unpin, so
// that a later Transaction runs there and fails when a watched key changed; while watching,
// every command of the session runs on that connection. It calls emit once with the reply.
// On a Cluster the connection goes to the primary of the keys' slot (keys of several slots
// are refused with CROSSSLOT): the keys a watching client uses must live there (hash tags),
// others get -MOVED.
func (ss *Session) Watch(args [][]byte, emit func(reply []byte) error) error {
	fail := func(msg string) error { return emit(resp.AppendError(nil, msg)) }
	if len(args) < 2 {
		return fail("ERR wrong number of arguments for 'watch' command")
	}
	if s := ss.s; s.opts.MaxArgs > 0 && len(args) > s.opts.MaxArgs {
		return fail("ERR more than " + strconv.Itoa(s.opts.MaxArgs) + " arguments")
	}
	if _, msg := ss.admit(1); msg != "" {
		return fail(msg)
	}
	if msg := ss.charge(1); msg != "" {
		return fail(msg)
	}
	if !ss.watching {
		p, ok := ss.g.db.backend.(backend.Pinner)
		if !ok {
			return fail("ERR WATCH is not available on this database's backend")
		}
		pin, err := p.Pin(args[1:])
		if errors.Is(err, cluster.ErrCrossSlot) {
			return fail(err.Error())
		}
		if err != nil {
			return fail(ss.backendMessage(err))
		}
		ss.pin, ss.watching = pin, true
	}
	if !ss.Pinned() {
		// The connection was lost since the first WATCH: EXEC fails whatever happens now.
		return emit([]byte("+OK\r\n"))
	}
	pin := ss.pin
	b := pool.NewBatch(1)
	b.Add(args...)
	// Sent on the pinned connection only, never on a shared one.
	b, err := ss.s.execute(ss.g.db, b, route{}, func(rctx context.Context, b *pool.Batch) error { return pin.Do(rctx, b) })
	if err != nil {
		return fail(ss.backendMessage(err))
	}
	defer b.Release()
	return emit(b.Reply(0))
}

// Watching reports whether the session is between WATCH and EXEC, DISCARD or UNWATCH.
func (ss *Session) Watching() bool { return ss.watching }

// Pinned reports whether the session holds a connection (it is watching and the connection
// is not lost).
func (ss *Session) Pinned() bool { return ss.pin != nil && !ss.pin.Lost() }

// Drop closes the pinned connection of a watching session that stays idle too long: the
// session stays watching, and its next EXEC fails as if a watched key changed.
func (ss *Session) Drop() {
	if ss.pin != nil {
		ss.pin.Release(false)
		ss.pin = nil
	}
}

// Unpin ends watching (EXEC, DISCARD, UNWATCH, RESET, a client that leaves): the connection
// is reset with UNWATCH and kept for another client, or closed when that fails, so that no
// client's watched keys stay on a connection another client gets.
func (ss *Session) Unpin() {
	pin := ss.pin
	ss.pin, ss.watching = nil, false
	if pin == nil || pin.Lost() {
		return
	}
	ctx, cancel := context.WithTimeout(ss.s.base, ss.s.opts.CommandTimeout)
	defer cancel()
	b := pool.NewBatch(1)
	defer b.Release()
	b.Add([]byte("UNWATCH"))
	err := pin.Do(ctx, b)
	pin.Release(err == nil && string(b.Reply(0)) == "+OK\r\n")
}
