// Package pool multiplexes concurrent Redis commands onto a few persistent, pipelined connections.
//
// Every connection has one writer and one reader goroutine. Batches handed to a
// connection while its writer is busy are written together with one syscall and
// their replies are matched in order, so many concurrent callers cost Redis a
// handful of connections and few round trips.
package pool

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrUnavailable reports that no connection to Redis could take the batch; it was not sent.
var ErrUnavailable = errors.New("redis unavailable")

// UnavailableError reports that the batch was not sent because no connection to the server
// at Addr is up; it matches ErrUnavailable, and Err, when set, says why the last dial failed.
type UnavailableError struct {
	// Addr is where the pool connects (host:port, never credentials).
	Addr string
	// Err is the dial's error, or nil.
	Err error
}

// Error says which server cannot be reached, without the dial's error (see Err).
func (e *UnavailableError) Error() string { return "cannot reach redis at " + e.Addr }

// Unwrap returns ErrUnavailable and Err.
func (e *UnavailableError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrUnavailable}
	}
	return []error{ErrUnavailable, e.Err}
}

// ErrBroken reports that the connection failed after the batch was sent; its outcome is unknown.
var ErrBroken = errors.New("redis connection lost")

// ErrTimeout reports that the batch did not complete before its context ended.
var ErrTimeout = errors.New("redis did not answer in time")

// ErrNotAcked reports a write that the leader applied but fewer replicas than asked
// acknowledged in time: it may be lost if the leader fails.
var ErrNotAcked = errors.New("write not acknowledged by replicas in time")

// ErrClosed reports a batch sent to a closed pool.
var ErrClosed = errors.New("pool closed")

// Options configures a Pool.
type Options struct {
	// Addr is the host:port (or path, with Network "unix") of the Redis server.
	Addr string
	// Resolve, when set, names the address to dial at each connect in place of Addr, so a
	// pool can follow a server that moves (a replica set's leader, say; see Pool.Redial).
	Resolve func() string
	// Network is "tcp" (default) or "unix".
	Network string
	// Dialer, when set, opens the raw connections in place of a net.Dialer (30 s keep-alive);
	// the handshake and TLS follow as usual. Tests use it to talk to a scripted peer over
	// net.Pipe.
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
	// Username and Password authenticate each connection when Password is set.
	Username, Password string
	// DB is selected on each connection when it is not 0.
	DB int
	// TLS, when set, wraps each connection in TLS.
	TLS *tls.Config
	// Size is the number of connections kept open (default 4).
	Size int
	// SpillAt is the backlog (batches sent or waiting, not yet answered) past which a
	// connection takes no more work while another is below it (default 256). Work goes to
	// the first connection that can take it, so batches stay large, which is what makes
	// one syscall serve many requests; the others share load spikes and slow replies.
	SpillAt int
	// MaxBacklog bounds the backlog of one connection (default 10,000); when every
	// connection is past it Do fails at once with ErrUnavailable.
	MaxBacklog int
	// DialTimeout bounds connecting and the handshake (default 2 s).
	DialTimeout time.Duration
	// ReplyTimeout is how long a connection may owe a reply before it is deemed dead (default 30 s).
	ReplyTimeout time.Duration
	// MaxReply bounds the raw size of one reply in bytes (default 512 MiB); a batch with a
	// larger reply fails with ErrTooLarge, its replies read and discarded.
	MaxReply int
	// MaxResponse bounds the raw size of one batch's replies in bytes (default 64 MiB): past it
	// the remaining replies are read and discarded as they arrive and the batch fails with
	// ErrTooLarge, while the connection and its other batches go on.
	MaxResponse int
	// MaxInflightResponse bounds the reply bytes held by all the pool's batches not yet released
	// (default 4 × MaxResponse): a reply that would pass it fails its batch with ErrTooLarge, the
	// same way, rather than stalling the connection until memory is released.
	MaxInflightResponse int64
	// AckReplicas, when positive, makes every write on the pool's connections end with
	// WAIT AckReplicas AckTimeout on the same connection, batches written together sharing
	// one WAIT; a batch completes only when its WAIT answers, with ErrNotAcked when too few
	// replicas acknowledged. ReplyTimeout must exceed AckTimeout.
	AckReplicas int
	AckTimeout  time.Duration
	// ClientName is set with CLIENT SETNAME on each connection (default "redisgate").
	ClientName string
	// Hello lists commands sent in each connection's handshake after CLIENT SETNAME, such as
	// CLIENT TRACKING; an error reply to any of them fails the dial.
	Hello [][]string
	// OnLost, when set, is called each time a connection that was up fails, before it is
	// redialled (not when the pool closes); it runs on the connection's owner goroutine.
	OnLost func(err error)
	// Logger receives connection events (default slog.Default()).
	Logger *slog.Logger
	// Confine, when set, switches each connection, once authenticated and its DB selected, to a Redis ACL user created or updated with its rules, so that its commands and scripts cannot leave the database.
	Confine *Confine

	budget *budget // set by New and NewDedicated: what the connections' batches hold
}

// Confine names the Redis ACL user that a connection switches to at the end of its handshake.
//
// Each handshake runs ACL SETUSER User on >Password Rules… with the operator's credentials
// (Options.Username and Password), which need the ACL command, then AUTH User Password; the
// database selected before survives AUTH, and the rules should deny select, swapdb, move and
// flushall, for commands and scripts alike. SETUSER runs at every dial because ACL users live
// on each server and are lost when it restarts; it neither resets the user nor removes its
// other passwords, so gateways sharing the user do not undo each other.
type Confine struct {
	// User is the ACL user's name and Password one of its passwords.
	User, Password string
	// Rules are the ACL SETUSER rules after "on >Password", such as "~*", "resetchannels",
	// "+@all", "-select".
	Rules []string
}

// ConfineError reports that Redis refused to create or switch to the confined user (its message says why: NOPERM, unknown command on servers without ACL, …).
type ConfineError struct {
	User string
	Err  error
}

// Error describes the refusal.
func (e *ConfineError) Error() string {
	return fmt.Sprintf("confine connection to ACL user %q: %v", e.User, e.Err)
}

// Unwrap returns Redis's refusal.
func (e *ConfineError) Unwrap() error { return e.Err }

// ParseURL returns the options a redis:// or rediss:// (or unix://) URL describes.
func ParseURL(url string) (Options, error) {
	o, err := redis.ParseURL(url)
	if err != nil {
		return Options{}, fmt.Errorf("parse redis url: %w", err)
	}
	return Options{
		Addr:     o.Addr,
		Network:  o.Network,
		Username: o.Username,
		Password: o.Password,
		DB:       o.DB,
		TLS:      o.TLSConfig,
	}, nil
}

// Address returns where the next connection goes: Resolve's answer, or Addr.
func (o *Options) Address() string {
	if o.Resolve != nil {
		if a := o.Resolve(); a != "" {
			return a
		}
	}
	return o.Addr
}

func (o *Options) setDefaults() {
	if o.Network == "" {
		o.Network = "tcp"
	}
	if o.Size <= 0 {
		o.Size = 4
	}
	if o.SpillAt <= 0 {
		o.SpillAt = 256
	}
	if o.MaxBacklog <= 0 {
		o.MaxBacklog = 10000
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 2 * time.Second
	}
	if o.ReplyTimeout <= 0 {
		o.ReplyTimeout = 30 * time.Second
	}
	if o.MaxReply <= 0 {
		o.MaxReply = 512 << 20
	}
	if o.MaxResponse <= 0 {
		o.MaxResponse = 64 << 20
	}
	if o.MaxInflightResponse <= 0 {
		o.MaxInflightResponse = 4 * int64(o.MaxResponse)
	}
	if o.ClientName == "" {
		o.ClientName = "redisgate"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Pool keeps Options.Size pipelined connections to one Redis server and reconnects them when they fail.
type Pool struct {
	opts     Options
	slots    []atomic.Pointer[conn]
	counters counters
	budget   budget
	epoch    atomic.Uint64 // advanced by Redial: connections dialled before it are dropped
	down     DownLog       // reports the server down and up again, shared by the slots
	lighter  signal        // fired when a heavy connection is light again
	stop     chan struct{}
	wg       sync.WaitGroup
	once     sync.Once
}

// New dials the pool's connections and starts their owners; a server that is down is retried in the background.
func New(opts Options) *Pool {
	opts.setDefaults()
	p := &Pool{opts: opts, slots: make([]atomic.Pointer[conn], opts.Size), stop: make(chan struct{})}
	p.down.Logger = opts.Logger
	p.budget.max = opts.MaxInflightResponse
	p.opts.budget = &p.budget
	ready := make(chan struct{}, opts.Size)
	for i := range p.slots {
		p.wg.Add(1)
		go p.own(i, ready)
	}
	for range p.slots {
		<-ready
	}
	return p
}

// Addr reports the address the pool connects to.
func (p *Pool) Addr() string { return p.opts.Address() }

// Redial drops every connection so that each is dialled again, at the address Resolve names
// then; batches a dropped connection owed replies fail with ErrBroken.
func (p *Pool) Redial() {
	p.epoch.Add(1)
	for i := range p.slots {
		if c := p.slots[i].Load(); c != nil {
			c.fail(errRedial)
		}
	}
}

// errRedial is why Redial dropped a connection.
var errRedial = errors.New("redialled: the server moved")

// Close closes every connection, fails batches still pending, and waits for the pool's goroutines.
func (p *Pool) Close() error {
	p.once.Do(func() { close(p.stop) })
	p.wg.Wait()
	return nil
}

// Connected reports how many of the pool's connections are up.
func (p *Pool) Connected() int {
	n := 0
	for i := range p.slots {
		if c := p.slots[i].Load(); c != nil && !c.isClosed() {
			n++
		}
	}
	return n
}

// counters count a pool's writes.
type counters struct {
	writes, batches atomic.Uint64
}

// Stats is a snapshot of a pool's work.
type Stats struct {
	// Connected is how many connections are up.
	Connected int
	// Backlog is how many batches wait to be written or answered.
	Backlog int
	// Writes counts flushes to Redis, Batches the batches they carried: Batches/Writes is
	// the mean number of requests one syscall served.
	Writes, Batches uint64
	// InflightResponse is how many reply bytes the pool's batches hold, read and not yet released.
	InflightResponse int64
}

// Stats returns a snapshot of the pool's work.
func (p *Pool) Stats() Stats {
	st := Stats{Writes: p.counters.writes.Load(), Batches: p.counters.batches.Load(), InflightResponse: p.budget.held.Load()}
	for i := range p.slots {
		if c := p.slots[i].Load(); c != nil && !c.isClosed() {
			st.Connected++
			st.Backlog += c.backlog()
		}
	}
	return st
}

// Do sends b on one connection and waits for its replies or for ctx to end.
// All commands of b are written contiguously on that connection, never interleaved with other batches.
func (p *Pool) Do(ctx context.Context, b *Batch) error {
	select {
	case <-p.stop:
		return ErrClosed
	default:
	}
	if b.n == 0 {
		b.finished = true
		return nil
	}
	c, err := p.place(ctx, b)
	if err != nil {
		return err
	}
	if c == nil {
		if p.Connected() == 0 {
			return &UnavailableError{Addr: p.Addr()}
		}
		return fmt.Errorf("%w: every connection has %d batches waiting", ErrUnavailable, p.opts.MaxBacklog)
	}
	select {
	case <-b.done:
		b.finished = true
		if b.err != nil && unsent(b.err) {
			// Never written: the batch may go to another node (a replica's read to its primary).
			b.state.Store(batchRunning)
		}
		return b.err
	case <-ctx.Done():
		if c.withdraw(b) {
			return fmt.Errorf("%w: queued until the deadline, not sent", ErrUnavailable)
		}
		if b.abandon() {
			return fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
		}
		return b.wait() // completed meanwhile
	}
}

// place hands b to a connection, preferring one under SpillAt, then one under MaxBacklog, and
// passing over heavy ones (reading a large answer): while every live connection is heavy, it
// waits for one to be light again rather than queue b behind the rest of a large answer (and
// a client sending large answers one after another is held back by the drain of each). It
// returns nil when no connection can take b.
func (p *Pool) place(ctx context.Context, b *Batch) (*conn, error) {
	var light <-chan struct{}
	for {
		if c := p.enqueue(b, p.opts.SpillAt); c != nil {
			return c, nil
		}
		if c := p.enqueue(b, p.opts.MaxBacklog); c != nil {
			return c, nil
		}
		if !p.heavy() {
			return nil, nil
		}
		if light == nil {
			// Subscribe, then try again: a connection that became light in between is not missed.
			light = p.lighter.wait()
			continue
		}
		select {
		case <-light:
			light = nil
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: every connection busy with a large answer until the deadline, not sent", ErrUnavailable)
		case <-p.stop:
			return nil, ErrClosed
		}
	}
}

// heavy reports whether a live connection is heavy.
func (p *Pool) heavy() bool {
	for i := range p.slots {
		if c := p.slots[i].Load(); c != nil && !c.isClosed() && c.heavy.Load() {
			return true
		}
	}
	return false
}

// enqueue hands b to the first live connection that is not heavy and whose backlog is under limit.
func (p *Pool) enqueue(b *Batch, limit int) *conn {
	for i := range p.slots {
		if c := p.slots[i].Load(); c != nil && !c.heavy.Load() && c.enqueue(b, limit) {
			return c
		}
	}
	return nil
}

// own keeps slot i connected until the pool stops.
func (p *Pool) own(i int, ready chan<- struct{}) {
	defer p.wg.Done()
	backoff := 25 * time.Millisecond
	first := true
	for {
		epoch := p.epoch.Load()
		c, err := dial(&p.opts, p.opts.ClientName, &p.counters, &p.lighter)
		// New returns once each slot's first dial is over: stored when it succeeded, so that a
		// Do right after New finds the connection.
		signal := func() {
			if first {
				ready <- struct{}{}
				first = false
			}
		}
		if err != nil {
			signal()
			p.down.Failed(p.opts.Address(), err)
			select {
			case <-p.stop:
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 500*time.Millisecond)
			continue
		}
		backoff = 25 * time.Millisecond
		p.slots[i].Store(c)
		signal()
		p.down.Up(p.opts.Address())
		if p.epoch.Load() != epoch {
			c.fail(errRedial) // dialled at an address Redial has since left
		}
		select {
		case <-p.stop:
			c.fail(ErrClosed)
		case <-c.closed:
		}
		p.slots[i].Store(nil)
		c.wait()
		select {
		case <-p.stop:
			return
		default:
		}
		if errors.Is(c.err, errRedial) {
			p.opts.Logger.Info("redis connection dropped to follow the server", "addr", c.addr, "slot", i)
		} else {
			p.down.Failed(p.opts.Address(), fmt.Errorf("connection lost: %w", c.err))
		}
		if p.opts.OnLost != nil {
			p.opts.OnLost(c.err)
		}
	}
}

// Dial opens one connection to the server o describes, authenticated, with o.DB selected, named
// o.ClientName and confined by o.Confine, for work that needs a connection to itself (pub/sub,
// MONITOR); the caller closes it.
func Dial(ctx context.Context, o Options) (net.Conn, error) {
	o.setDefaults()
	return dialNet(ctx, &o, o.ClientName)
}

// CheckConfine dials once with o, runs the confined handshake and closes the connection; it returns a *ConfineError when Redis refuses it.
func CheckConfine(ctx context.Context, o Options) error {
	if o.Confine == nil {
		return errors.New("check confine: Options.Confine not set")
	}
	o.setDefaults()
	nc, err := dialNet(ctx, &o, o.ClientName+"-check")
	if err != nil {
		return fmt.Errorf("check confine: %w", err)
	}
	return nc.Close()
}

// dial opens one connection, runs the handshake and starts the connection's goroutines, whose
// batches hold replies against o.budget. A pool's connection (lighter set: fired when it stops
// being heavy) completes a batch past its limits at once, before the rest of its replies is
// drained, so that its sender is answered while the connection goes on reading; a dedicated
// one (lighter nil), which takes one batch at a time, completes it after the drain, once it
// can take the next.
func dial(o *Options, name string, stats *counters, lighter *signal) (*conn, error) {
	nc, err := dialNet(context.Background(), o, name)
	if err != nil {
		return nil, err
	}
	c := newConn(nc, o.ReplyTimeout, limits{maxReply: o.MaxReply, maxResponse: o.MaxResponse, budget: o.budget})
	c.addr = nc.RemoteAddr().String()
	c.stats = stats
	c.lighter = lighter
	if o.AckReplicas > 0 {
		c.ack = newAcker(o.AckReplicas, o.AckTimeout)
	}
	c.start()
	return c, nil
}

// dialNet connects and runs the handshake within o.DialTimeout and ctx.
func dialNet(ctx context.Context, o *Options, name string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, o.DialTimeout)
	defer cancel()
	dial := o.Dialer
	if dial == nil {
		dial = (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext
	}
	addr := o.Address()
	nc, err := dial(ctx, o.Network, addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	if o.TLS != nil {
		tc := tls.Client(nc, o.TLS)
		nc = tc
	}
	hello := NewBatch(5 + len(o.Hello))
	if o.Password != "" {
		if o.Username != "" {
			hello.Add([]byte("AUTH"), []byte(o.Username), []byte(o.Password))
		} else {
			hello.Add([]byte("AUTH"), []byte(o.Password))
		}
	}
	if o.DB != 0 {
		hello.Add([]byte("SELECT"), []byte(strconv.Itoa(o.DB)))
	}
	hello.Add([]byte("CLIENT"), []byte("SETNAME"), []byte(name))
	for _, cmd := range o.Hello {
		args := make([][]byte, len(cmd))
		for i, a := range cmd {
			args[i] = []byte(a)
		}
		hello.Add(args...)
	}
	confineAt := hello.n
	if cf := o.Confine; cf != nil {
		args := make([][]byte, 0, 4+len(cf.Rules))
		args = append(args, []byte("ACL"), []byte("SETUSER"), []byte(cf.User), []byte("on"), []byte(">"+cf.Password))
		for _, r := range cf.Rules {
			args = append(args, []byte(r))
		}
		hello.Add(args...)
		hello.Add([]byte("AUTH"), []byte(cf.User), []byte(cf.Password))
	}
	deadline, _ := ctx.Deadline()
	refused, err := handshake(nc, hello, time.Until(deadline))
	if err != nil {
		nc.Close()
		if refused >= 0 {
			// Redis echoes the arguments of a command it does not know, passwords included.
			err = errors.New(redact(err.Error(), o.Password, o.confinePassword()))
		}
		if o.Confine != nil && refused >= confineAt {
			err = &ConfineError{User: o.Confine.User, Err: err}
		}
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return nc, nil
}

// confinePassword returns the confined user's password, or "".
func (o *Options) confinePassword() string {
	if o.Confine == nil {
		return ""
	}
	return o.Confine.Password
}

// redact returns msg without the arguments Redis echoes after an unknown command and with every
// non-empty secret in it replaced by "(redacted)".
func redact(msg string, secrets ...string) string {
	if i := strings.Index(msg, ", with args beginning with:"); i >= 0 {
		msg = msg[:i] + " (arguments redacted)"
	}
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "(redacted)")
		}
	}
	return msg
}
