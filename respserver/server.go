// Package respserver serves the Redis protocol (RESP2 and RESP3, inline commands too) to
// untrusted clients and runs their commands through the gateway, so that any Redis client
// (redis-cli, go-redis, ioredis, …) shares a database's few pipelined connections to Redis
// instead of opening its own.
//
// Its contract: a client authenticates with a gateway token (AUTH <token>, AUTH <user>
// <token>, HELLO <2|3> AUTH <user> <token>); before that only AUTH, HELLO, PING and QUIT
// answer. Every command then runs through a proxy.Session, with exactly the checks of the
// HTTP path (the command table, rate limits and quota per command), and its reply goes to
// the client that sent it, in order; commands a client pipelines travel to Redis as one
// batch. State Redis would keep on a connection is kept here instead (SELECT, CLIENT
// SETNAME/GETNAME/ID/INFO/REPLY, MULTI … EXEC, RESP version), never on a shared Redis
// connection. WATCH pins the client to a Redis connection of its own until EXEC, DISCARD,
// UNWATCH, RESET or its leaving (at most MaxPins clients per database; a pin is reset with
// UNWATCH before another client gets it, and lost by a client idle past PinIdleTimeout, whose
// EXEC then fails as if a watched key changed). SUBSCRIBE, PSUBSCRIBE, their UNSUBSCRIBE and
// MONITOR are served from the database's pub/sub hub through proxy.Stream (stream.go), with
// Redis's RESP2 subscriber-mode rules and RESP3 pushes; a subscriber too slow for its
// bounded queue is disconnected.
//
// Every client is untrusted: a request that breaks the protocol or a limit (argument
// count, command size, inline line length, bytes in flight server-wide) gets an error reply
// and its connection is closed; connections are capped in all and per IP; a client must
// authenticate within AuthTimeout, send each command within ReadTimeout of its first byte,
// and not stay idle past IdleTimeout.
package respserver

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redisgate/redisgate/metrics"
	"github.com/redisgate/redisgate/proxy"
	"github.com/redisgate/redisgate/ratelimit/clientip"
)

// Options configures a Server; zero fields take the defaults given.
type Options struct {
	// MaxConns bounds the open client connections (0: none); MaxConnsPerIP those from one
	// IP (0: none). A connection past either gets an error reply and is closed.
	MaxConns, MaxConnsPerIP int
	// AuthTimeout is how long a new connection has to authenticate (default 10 s).
	AuthTimeout time.Duration
	// IdleTimeout is how long a connection may wait between commands (default 2 min).
	IdleTimeout time.Duration
	// ReadTimeout is how long a command may take to arrive from its first byte (default 30 s).
	ReadTimeout time.Duration
	// WriteTimeout is how long writing one batch of replies may take (default 30 s).
	WriteTimeout time.Duration
	// MaxArgs bounds the arguments of one command (default 1,048,576).
	MaxArgs int
	// MaxCommandBytes bounds the bytes of one command's arguments, and of a transaction's
	// queued commands (default 10 MiB).
	MaxCommandBytes int
	// MaxInline bounds an inline command line (default 64 KiB).
	MaxInline int
	// MaxInflight bounds the request bytes all connections hold at once (default 256 MiB); a
	// command that cannot be read within it gets an error and its connection is closed.
	MaxInflight int64
	// MaxQueued bounds the commands of one MULTI (default 10,000).
	MaxQueued int
	// MaxBatch bounds the pipelined commands sent to Redis as one batch (default 1,000).
	MaxBatch int
	// MaxPins bounds the clients of one database that hold a pinned Redis connection at once,
	// from their first WATCH to EXEC, DISCARD or UNWATCH (default 8); a WATCH past it gets an
	// error reply. The pinned connections come on top of the database's pool and blocking ones.
	MaxPins int
	// PinIdleTimeout is how long a client holding a pinned connection may stay silent before
	// it loses it (default 10 s); its EXEC then fails as if a watched key changed.
	PinIdleTimeout time.Duration
	// Metrics, when set, receives connection, command and error counts.
	Metrics *metrics.Registry
	// Logger receives errors; it never sees tokens or values.
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.AuthTimeout, 10*time.Second)
	def(&o.IdleTimeout, 2*time.Minute)
	def(&o.ReadTimeout, 30*time.Second)
	def(&o.WriteTimeout, 30*time.Second)
	def(&o.PinIdleTimeout, 10*time.Second)
	defInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defInt(&o.MaxArgs, 1<<20)
	defInt(&o.MaxCommandBytes, 10<<20)
	defInt(&o.MaxInline, 64<<10)
	defInt(&o.MaxQueued, 10000)
	defInt(&o.MaxBatch, 1000)
	defInt(&o.MaxPins, 8)
	if o.MaxInflight <= 0 {
		o.MaxInflight = 256 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Server accepts Redis-protocol clients and runs their commands through a gateway.
type Server struct {
	gw   *proxy.Server
	opts Options
	obs  *observer // nil without metrics

	inflight atomic.Int64 // request bytes held by all connections
	ids      atomic.Int64 // of CLIENT ID
	streams  atomic.Int64 // subscriptions held by clients (stream.go)

	mu       sync.Mutex
	lns      map[net.Listener]struct{}
	conns    map[*conn]struct{}
	perIP    map[netip.Addr]int
	pins     map[string]int // pinned connections held, by database
	shut     bool
	draining bool
	wg       sync.WaitGroup // connection goroutines
}

// New returns a Server running commands through gw.
func New(gw *proxy.Server, opts Options) *Server {
	opts.setDefaults()
	s := &Server{gw: gw, opts: opts, lns: map[net.Listener]struct{}{}, conns: map[*conn]struct{}{}, perIP: map[netip.Addr]int{}, pins: map[string]int{}}
	if opts.Metrics != nil {
		s.obs = newObserver(s, opts.Metrics)
	}
	return s
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("respserver: server closed")

// Serve accepts connections on ln until Shutdown, which closes ln; it returns
// ErrServerClosed then, or the error that stopped accepting.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.shut {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.lns, ln)
		s.mu.Unlock()
	}()
	backoff := time.Duration(0)
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			shut := s.shut
			s.mu.Unlock()
			if shut {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.opts.Logger.Warn("accept failed; retrying", "err", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		s.accept(nc)
	}
}

// accept starts serving nc, or refuses it when a connection cap is reached.
func (s *Server) accept(nc net.Conn) {
	ip := clientip.PeerAddr(nc.RemoteAddr())
	s.mu.Lock()
	refuse := ""
	switch {
	case s.shut:
		refuse = "-ERR server shutting down\r\n"
	case s.opts.MaxConns > 0 && len(s.conns) >= s.opts.MaxConns:
		refuse = "-ERR max number of clients reached\r\n"
	case s.opts.MaxConnsPerIP > 0 && s.perIP[ip] >= s.opts.MaxConnsPerIP:
		refuse = "-ERR too many connections from this address\r\n"
	}
	if refuse != "" {
		s.mu.Unlock()
		s.obs.refused()
		nc.SetWriteDeadline(time.Now().Add(time.Second))
		io.WriteString(nc, refuse)
		nc.Close()
		return
	}
	c := newConn(s, nc, ip)
	s.conns[c] = struct{}{}
	s.perIP[ip]++
	s.wg.Add(1)
	s.mu.Unlock()
	s.obs.accepted()
	go func() {
		defer s.wg.Done()
		defer s.forget(c)
		c.serve()
	}()
}

// forget removes a finished connection.
func (s *Server) forget(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if s.perIP[c.ip]--; s.perIP[c.ip] <= 0 {
		delete(s.perIP, c.ip)
	}
}

// Conns returns the number of open client connections.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Shutdown stops accepting connections and lets each client's commands under way finish and
// their replies be written, then closes the connections; when ctx ends first, it closes
// those left at once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shut, s.draining = true, true
	for ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.drain()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	<-done
	return ctx.Err()
}

// reserve takes n bytes from the server-wide budget of request bytes in flight.
func (s *Server) reserve(n int64) bool {
	if s.inflight.Add(n) > s.opts.MaxInflight {
		s.inflight.Add(-n)
		return false
	}
	return true
}

// release gives n bytes back to the budget.
func (s *Server) release(n int64) {
	if n != 0 {
		s.inflight.Add(-n)
	}
}

// bufSize is the size of each connection's read and write buffers: small, so that ten
// thousand idle connections cost little; larger commands and replies go around them.
const bufSize = 4 << 10

// newConn returns the state of a new client connection.
func newConn(s *Server, nc net.Conn, ip netip.Addr) *conn {
	c := &conn{s: s, nc: nc, ip: ip, id: s.ids.Add(1), proto: 2, born: time.Now()}
	c.rd = newReader(sockReader{c}, bufSize, c.limits(false))
	c.bw = bufio.NewWriterSize(nc, bufSize)
	return c
}

// limits returns the reader limits of a connection before or after authentication: before,
// Redis's own (10 arguments, 16 KiB each), so that nobody without a token makes the gateway
// hold more than that.
func (c *conn) limits(authed bool) limits {
	o := &c.s.opts
	l := limits{maxArgs: o.MaxArgs, maxBytes: o.MaxCommandBytes, maxInline: o.MaxInline, reserveFor: c.s.reserve}
	if !authed {
		l.maxArgs, l.maxBytes, l.maxInline = 10, 16<<10, min(o.MaxInline, 16<<10)
	}
	return l
}

// takePin takes one of db's pinned connections; false when MaxPins are held.
func (s *Server) takePin(db string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pins[db] >= s.opts.MaxPins {
		return false
	}
	s.pins[db]++
	return true
}

// givePin gives one of db's pinned connections back.
func (s *Server) givePin(db string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pins[db]--; s.pins[db] <= 0 {
		delete(s.pins, db)
	}
}
