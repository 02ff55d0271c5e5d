// Package proxy serves the Upstash Redis REST API over fasthttp and runs each request's
// commands on the backend of the database its token opens.
//
// Contract: the proxy knows a database only through its backend.Backend, with one code path
// per route whatever the backend's shape; every answer that is not a success goes through
// Server.fail, that is apierr.Answer (status, JSON body, log level). It keeps nothing of a
// fasthttp.RequestCtx, nor of its byte slices, after Handle returns.
package proxy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/redisgate/redisgate/apierr"
	"github.com/redisgate/redisgate/backend"
	"github.com/redisgate/redisgate/cache"
	"github.com/redisgate/redisgate/command"
	"github.com/redisgate/redisgate/metrics"
	"github.com/redisgate/redisgate/pubsub"
	"github.com/redisgate/redisgate/ratelimit"
	"github.com/redisgate/redisgate/ratelimit/clientip"
	"github.com/redisgate/redisgate/script"
)

// Database is one Redis database served by the gateway and the tokens that open it.
type Database struct {
	Name string
	// Backend runs the database's batches, whatever its shape (see package backend); blocking
	// commands are refused unless it CanBlock.
	Backend        backend.Backend
	Tokens         []string
	ReadOnlyTokens []string
	// CommentShebang turns script shebang lines into comments, for backends that cannot read them.
	CommentShebang bool
	// TokenLimits overrides Options.TokenRate and Options.Quota for the tokens it names.
	TokenLimits map[string]TokenLimit
	// PubSub serves /subscribe, /psubscribe and /monitor; when nil they are refused.
	PubSub *pubsub.Hub
	// Cache, when set, answers single cacheable reads from memory (see package cache).
	Cache *cache.Cache
	// Edge is how browsers and CDNs may cache GET answers of read commands; zero: not at all.
	Edge cache.Edge
	// LogicalDB is the logical database the tokens open on the database's Redis server.
	LogicalDB int
	// Shared reports that the Redis server also serves other databases: commands that see or
	// act on the whole server (/monitor, INFO, PUBSUB, functions, SCRIPT FLUSH) are refused
	// and pub/sub channels are namespaced.
	Shared bool
	// Confined reports that the database's connections run as the Redis ACL user of
	// command.Scope.ACLRules (see pool.Confine).
	Confined bool
	// KillScripts stops the scripts and functions running on the database's Redis nodes
	// (SCRIPT KILL, FUNCTION KILL); it is called when a request's script is still running at
	// the command timeout. Nil: scripts are never stopped.
	KillScripts func(ctx context.Context) error
}

// TokenLimit is the rate limit and quota of one token; zero fields keep the server-wide values.
type TokenLimit struct {
	Rate  ratelimit.Rate
	Quota ratelimit.Quota
}

// Options configures a Server.
type Options struct {
	// MaxBodyBytes bounds a request body; larger ones get 413.
	MaxBodyBytes int
	// MaxPipeline bounds the commands of one /pipeline or /multi-exec request.
	MaxPipeline int
	// MaxArgs bounds the arguments of one command.
	MaxArgs int
	// CommandTimeout is the deadline of one request's Redis work.
	CommandTimeout time.Duration
	// MaxBlock caps the timeout of blocking commands (0 or longer timeouts become MaxBlock).
	MaxBlock time.Duration
	// MaxHeaderBytes bounds the request line and headers (431 past it); MaxConnsPerIP bounds
	// concurrent connections from one IP (0: none; trusted proxies are exempt); MaxConns bounds
	// concurrent connections in all (0: none).
	MaxHeaderBytes, MaxConnsPerIP, MaxConns int
	// MaxInflightBody bounds the memory of request bodies being read, server-wide (default
	// 256 MiB); a body that cannot grow within it waits up to InflightBodyWait (default 1 s),
	// then gets 503.
	MaxInflightBody  int64
	InflightBodyWait time.Duration
	// HeaderTimeout bounds the wait for a request's line and headers, from the connection's
	// opening or the request's first byte (default ReadTimeout); ReadTimeout then bounds the
	// body, WriteTimeout the response and IdleTimeout (default ReadTimeout) the wait between
	// requests.
	HeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// Limiter, when set, enforces IPRate, TokenRate and Quota before any command runs.
	Limiter *ratelimit.Limiter
	// IPRate limits requests per client IP, TokenRate per user; zero rates limit nothing.
	IPRate, TokenRate ratelimit.Rate
	// Quota caps each user's commands per day and month.
	Quota ratelimit.Quota
	// Proxies are the trusted reverse proxies, whose forwarding headers name the client.
	Proxies clientip.Proxies
	// UserHeader names a header holding the user id, believed from trusted proxies only.
	UserHeader string
	// Metrics, when set, receives request counts and latencies.
	Metrics *metrics.Registry
	// CORSOrigin is sent as Access-Control-Allow-Origin ("*" when empty).
	CORSOrigin string
	// MaxStreamsPerToken bounds the SSE streams one token holds open (default 100); past it 429.
	MaxStreamsPerToken int
	// StreamHeartbeat is how long an SSE stream may stay silent before a comment line is sent (default 15 s).
	StreamHeartbeat time.Duration
	// Logger receives errors; it never sees tokens or values.
	Logger *slog.Logger
}

// scope returns what the grant's token may do.
func (g grant) scope() command.Scope {
	sc := g.db.scope
	sc.ReadOnly = g.readOnly
	return sc
}

// grant is what a token opens.
type grant struct {
	db       *database
	readOnly bool
	user     string // the rate-limit key of the token: a prefix of its hash, never the token
	rate     ratelimit.Rate
	quota    ratelimit.Quota
	streams  *atomic.Int64 // SSE streams the token holds open
	revoked  chan struct{} // closed when a Reload removes the token or changes what it opens
}

type database struct {
	name    string
	backend backend.Backend
	routes  bool          // backend.Routes: the request's consistency header and sync token matter
	scope   command.Scope // what its tokens may do, ReadOnly unset
	scripts *script.Mapper
	pubsub  *pubsub.Hub // nil: streams are refused

	logicalDB   int
	shared      bool                        // the Redis server serves other databases too
	killScripts func(context.Context) error // nil: scripts are not stopped
	killing     atomic.Bool                 // a kill is under way

	cache        *cache.Cache // nil: reads are not cached
	edge         cache.Edge
	cacheControl string // of edge-cacheable answers
}

// Server is the HTTP side of the gateway.
type Server struct {
	opts      Options
	dbs       map[string]*database
	access    atomic.Pointer[accessTable] // tokens and limits, replaced whole by Reload
	http      *fasthttp.Server
	base      context.Context
	cancel    context.CancelFunc
	deadlines *deadlines     // of CommandTimeout from now
	obs       *observer      // nil without metrics
	bg        sync.WaitGroup // script kills under way, waited for by Shutdown
	debug     bool           // log every request

	bodies    *bodyBudget // request-body memory in flight
	smallBufs sync.Pool   // *[]byte of smallBody bytes: the first buffer of every body

	syncPrefix string
	syncSeq    atomic.Uint64
	corsOrigin []byte // opts.CORSOrigin

	lnMu sync.Mutex // guards ln and shut, so a Shutdown racing Serve still ends it
	ln   net.Listener
	shut bool
}

// New returns a Server for dbs; it fails when a token opens two databases.
func New(opts Options, dbs []Database) (*Server, error) {
	if opts.CORSOrigin == "" {
		opts.CORSOrigin = "*"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxPipeline <= 0 {
		opts.MaxPipeline = 10000
	}
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = 10 * time.Second
	}
	if opts.MaxBlock <= 0 {
		opts.MaxBlock = 30 * time.Second
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = fasthttp.DefaultMaxRequestBodySize
	}
	if opts.MaxInflightBody <= 0 {
		opts.MaxInflightBody = 256 << 20
	}
	if opts.InflightBodyWait <= 0 {
		opts.InflightBodyWait = time.Second
	}
	if opts.HeaderTimeout <= 0 {
		opts.HeaderTimeout = opts.ReadTimeout
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = opts.ReadTimeout
	}
	s := &Server{opts: opts, dbs: map[string]*database{}, bodies: newBodyBudget(opts.MaxInflightBody)}
	s.smallBufs.New = func() any { b := make([]byte, 0, smallBody); return &b }
	s.corsOrigin = []byte(opts.CORSOrigin)
	acc := Access{IPRate: opts.IPRate, TokenRate: opts.TokenRate, Quota: opts.Quota, Proxies: opts.Proxies, UserHeader: opts.UserHeader}
	for _, d := range dbs {
		if d.Backend == nil {
			return nil, fmt.Errorf("database %s: no backend", d.Name)
		}
		db := &database{name: d.Name, backend: d.Backend, routes: d.Backend.Routes(), scripts: script.NewMapper(10000, d.CommentShebang), pubsub: d.PubSub}
		db.scope = command.Scope{
			Blocking: d.Backend.CanBlock(),
			Shared:   d.Shared,
			Confined: d.Confined,
			DB:       d.LogicalDB,
			MaxBlock: opts.MaxBlock,
		}
		if d.Shared {
			// Channels and the script cache are server-wide: each database gets its own view.
			db.scope.Channels = "db" + strconv.Itoa(d.LogicalDB) + ":"
			db.scripts.Namespace()
		}
		db.cache, db.edge, db.cacheControl = d.Cache, d.Edge, d.Edge.CacheControl()
		db.killScripts, db.logicalDB, db.shared = d.KillScripts, d.LogicalDB, d.Shared
		if _, dup := s.dbs[d.Name]; dup {
			return nil, fmt.Errorf("database %s: name used twice", d.Name)
		}
		s.dbs[d.Name] = db
		acc.Databases = append(acc.Databases, DatabaseAccess{Name: d.Name, Tokens: d.Tokens, ReadOnlyTokens: d.ReadOnlyTokens, TokenLimits: d.TokenLimits})
	}
	if err := s.Reload(acc); err != nil {
		return nil, err
	}
	var nonce [6]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("sync token nonce: %w", err)
	}
	s.syncPrefix = hex.EncodeToString(nonce[:]) + "-"
	s.base, s.cancel = context.WithCancel(context.Background())
	s.deadlines = newDeadlines(s.base, opts.CommandTimeout)
	s.debug = opts.Logger.Enabled(context.Background(), slog.LevelDebug)
	if opts.Metrics != nil {
		s.obs = newObserver(s, opts.Metrics)
	}
	s.http = &fasthttp.Server{
		Handler:      s.Handle,
		ErrorHandler: s.handleTransportError,
		Name:         "redisgate",
		// fasthttp's ReadTimeout runs from a connection's opening, or a request's first
		// byte, to the end of its headers; headerReceived then gives the body ReadTimeout.
		ReadTimeout:                  opts.HeaderTimeout,
		HeaderReceived:               s.headerReceived,
		StreamRequestBody:            true,
		WriteTimeout:                 opts.WriteTimeout,
		IdleTimeout:                  opts.IdleTimeout,
		MaxRequestBodySize:           opts.MaxBodyBytes,
		ReadBufferSize:               opts.MaxHeaderBytes,
		DisablePreParseMultipartForm: true,
		CloseOnShutdown:              true,
		Logger:                       fasthttpLogger{opts.Logger},
	}
	return s, nil
}

// Access is what Reload may change without dropping connections: the tokens of each
// database and the rate limits and quotas applied to them.
type Access struct {
	Databases         []DatabaseAccess
	IPRate, TokenRate ratelimit.Rate
	Quota             ratelimit.Quota
	Proxies           clientip.Proxies
	UserHeader        string
}

// DatabaseAccess is the tokens of one database, named as it was when the Server was made.
type DatabaseAccess struct {
	Name                   string
	Tokens, ReadOnlyTokens []string
	TokenLimits            map[string]TokenLimit
}

// accessTable is one generation of Access, ready for lookups.
type accessTable struct {
	tokens     map[[sha256.Size]byte]grant // keyed by the token's hash: tokens are not kept in memory
	ipRate     ratelimit.Rate
	proxies    clientip.Proxies
	userHeader string
}

// Reload replaces the tokens and limits; requests under way keep the ones they started with.
// It fails, changing nothing, when a token opens two databases or a database is unknown.
func (s *Server) Reload(a Access) error {
	old := s.access.Load()
	t := &accessTable{tokens: map[[sha256.Size]byte]grant{}, ipRate: a.IPRate, proxies: a.Proxies, userHeader: a.UserHeader}
	for _, d := range a.Databases {
		db, ok := s.dbs[d.Name]
		if !ok {
			return fmt.Errorf("database %s: not served (adding a database needs a restart)", d.Name)
		}
		for i, list := range [][]string{d.Tokens, d.ReadOnlyTokens} {
			for _, tok := range list {
				h := sha256.Sum256([]byte(tok))
				if _, dup := t.tokens[h]; dup {
					return fmt.Errorf("database %s: a token is used twice", d.Name)
				}
				gr := grant{db: db, readOnly: i == 1, user: "t:" + hex.EncodeToString(h[:12]), rate: a.TokenRate, quota: a.Quota, streams: new(atomic.Int64), revoked: make(chan struct{})}
				if old != nil {
					if prev, ok := old.tokens[h]; ok && prev.db == gr.db && prev.readOnly == gr.readOnly {
						// Open streams still count against the token, and stay open.
						gr.streams, gr.revoked = prev.streams, prev.revoked
					}
				}
				if tl, ok := d.TokenLimits[tok]; ok {
					// Fields an override leaves zero keep the server-wide value.
					if !tl.Rate.IsZero() {
						gr.rate = tl.Rate
					}
					if tl.Quota.Daily > 0 {
						gr.quota.Daily = tl.Quota.Daily
					}
					if tl.Quota.Monthly > 0 {
						gr.quota.Monthly = tl.Quota.Monthly
					}
				}
				t.tokens[h] = gr
			}
		}
	}
	s.access.Store(t)
	if old != nil {
		// Streams opened with a token that no longer opens the same thing end now.
		for h, prev := range old.tokens {
			if cur, ok := t.tokens[h]; !ok || cur.revoked != prev.revoked {
				close(prev.revoked)
			}
		}
	}
	return nil
}

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.lnMu.Lock()
	if s.shut {
		s.lnMu.Unlock()
		return ln.Close()
	}
	if s.opts.MaxConnsPerIP > 0 || s.opts.MaxConns > 0 {
		ln = &limitListener{Listener: ln, maxTotal: s.opts.MaxConns, maxPerIP: s.opts.MaxConnsPerIP,
			exempt: func(a netip.Addr) bool { return s.access.Load().proxies.Trusts(a) }, count: map[netip.Addr]int{}, logger: s.opts.Logger}
	}
	s.ln = ln
	s.lnMu.Unlock()
	return s.http.Serve(ln)
}

// Shutdown stops accepting connections, waits for in-flight requests until ctx ends, and cancels the rest.
func (s *Server) Shutdown(ctx context.Context) error {
	s.lnMu.Lock()
	s.shut = true
	ln := s.ln
	s.lnMu.Unlock()
	err := s.http.ShutdownWithContext(ctx)
	if ln != nil {
		// Serve may have been called but not yet be accepting, and then fasthttp's shutdown
		// missed the listener: closing it ends Serve.
		ln.Close()
	}
	s.cancel()
	s.bg.Wait()
	return err
}

// appendSyncToken appends a token no earlier response carried.
func (s *Server) appendSyncToken(dst []byte) []byte {
	dst = append(dst, s.syncPrefix...)
	return strconv.AppendUint(dst, s.syncSeq.Add(1), 36)
}

// handleTransportError answers requests fasthttp could not read.
func (s *Server) handleTransportError(ctx *fasthttp.RequestCtx, err error) {
	status := fasthttp.StatusBadRequest
	msg := "malformed HTTP request"
	var netErr net.Error
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		status, msg = fasthttp.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", s.opts.MaxBodyBytes)
	case errors.As(err, &small):
		status, msg = fasthttp.StatusRequestHeaderFieldsTooLarge, "request headers too large"
	case errors.As(err, &netErr) && netErr.Timeout():
		status, msg = fasthttp.StatusRequestTimeout, "request not received in time"
	}
	s.corsHeaders(ctx)
	s.fail(ctx, "", apierr.Status(status, msg))
}

type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Debug(fmt.Sprintf(format, args...), "component", "fasthttp")
}
