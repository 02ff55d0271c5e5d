// Command redisgate serves the Upstash Redis REST API in front of Redis, multiplexing
// many short HTTP requests onto a few persistent, pipelined connections.
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/redisgate/redisgate/backend"
	"github.com/redisgate/redisgate/cache"
	"github.com/redisgate/redisgate/command"
	"github.com/redisgate/redisgate/config"
	"github.com/redisgate/redisgate/metrics"
	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/proxy"
	"github.com/redisgate/redisgate/ratelimit"
	"github.com/redisgate/redisgate/ratelimit/clientip"
	"github.com/redisgate/redisgate/ratelimit/poolstore"
	"github.com/redisgate/redisgate/replicaset"
)

func main() {
	ctx, stop := signalNotifyContext()
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// signalNotifyContext returns a context that ends on SIGINT or SIGTERM.
func signalNotifyContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// run starts the gateway and serves until ctx ends; it returns the process exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := config.Load(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "redisgate: %v\n", err)
		return 2
	}
	log := newLogger(cfg, stderr)
	memoryLimit, restoreMemoryLimit := applyMemoryLimit(int64(cfg.Limits.MemoryLimit), getenv, log)
	defer restoreMemoryLimit()
	_, restoreProcs := applyProcs(cfg.Procs, getenv, log)
	defer restoreProcs()

	var embedded *miniredis.Miniredis
	if cfg.Embedded() {
		if embedded, err = startEmbedded(&cfg); err != nil {
			fmt.Fprintf(stderr, "redisgate: %v\n", err)
			return 1
		}
		defer embedded.Close()
	}

	var dbs []proxy.Database
	var first *backend.Database
	placements := cfg.Placements()
	for i, d := range cfg.Databases {
		db, parts, err := openDatabase(cfg, d, placements[i], log, embedded != nil)
		if err != nil {
			fmt.Fprintf(stderr, "redisgate: database %s: %v\n", d.Name, err)
			return 2
		}
		defer parts.Close()
		dbs = append(dbs, db)
		if i == 0 {
			first = parts
		}
	}

	lopts, stopLimiter, err := newLimiter(cfg, first, log)
	if err != nil {
		fmt.Fprintf(stderr, "redisgate: %v\n", err)
		return 2
	}
	defer stopLimiter()

	reg := metrics.NewRegistry()
	registerMetrics(reg, dbs, lopts.Limiter)

	srv, err := proxy.New(proxy.Options{
		Metrics:        reg,
		MaxBodyBytes:   int(cfg.Limits.MaxBodyBytes),
		MaxPipeline:    cfg.Limits.MaxPipeline,
		MaxArgs:        cfg.Limits.MaxArgs,
		MaxHeaderBytes: int(cfg.Limits.MaxHeaderBytes),
		MaxConnsPerIP:  cfg.Limits.MaxConnsPerIP,
		MaxConns:       cfg.Limits.MaxConns,
		HeaderTimeout:  cfg.Limits.HeaderTimeout,
		CommandTimeout: cfg.Limits.CommandTimeout,
		MaxBlock:       cfg.Limits.MaxBlock,
		ReadTimeout:    cfg.Limits.ReadTimeout,
		WriteTimeout:   cfg.Limits.WriteTimeout,
		IdleTimeout:    cfg.Limits.IdleTimeout,
		CORSOrigin:     cfg.CORSOrigin,
		Logger:         log,
		Limiter:        lopts.Limiter,
		IPRate:         lopts.IPRate,
		TokenRate:      lopts.TokenRate,
		Quota:          lopts.Quota,
		Proxies:        lopts.Proxies,
		UserHeader:     cfg.RateLimits.UserHeader,

		MaxStreamsPerToken: cfg.Limits.MaxStreamsPerToken,
		StreamHeartbeat:    cfg.Limits.StreamHeartbeat,
		MaxInflightBody:    cfg.Limits.InflightBody(memoryLimit),
	}, dbs)
	if err != nil {
		fmt.Fprintf(stderr, "redisgate: %v\n", err)
		return 2
	}
	registerBodyMetrics(reg, srv)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		fmt.Fprintf(stderr, "redisgate: %v\n", err)
		return 1
	}
	url := "http://" + ln.Addr().String()
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			ln.Close()
			fmt.Fprintf(stderr, "redisgate: tls: %v\n", err)
			return 2
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		url = "https://" + ln.Addr().String()
	}
	fmt.Fprintf(stdout, "redisgate listening on %s\n", url)
	if embedded != nil {
		fmt.Fprintf(stdout, "backend: embedded in-memory Redis (no --upstream given): data is NOT persisted and is lost when redisgate stops\n")
	}
	for _, l := range tokenBanner(cfg, url, embedded != nil) {
		fmt.Fprintln(stdout, l)
	}
	log.Info("listening", "url", url, "databases", len(dbs), "embedded", embedded != nil)
	stopRESP, err := startRESP(cfg, srv, reg, cfg.Limits.InflightBody(memoryLimit), log, stdout)
	if err != nil {
		ln.Close()
		fmt.Fprintf(stderr, "redisgate: %v\n", err)
		return 1
	}
	defer stopRESP()

	if cfg.AdminListen != "" {
		stopAdmin := startAdmin(cfg.AdminListen, cfg.Pprof, args, reg, dbs, log)
		defer stopAdmin()
	}

	// SIGHUP reloads tokens and limits from the flags, environment and config file.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	rctx, stopReload := context.WithCancel(ctx)
	reloaded := make(chan struct{})
	go func() {
		defer close(reloaded)
		for {
			select {
			case <-rctx.Done():
				return
			case <-hup:
				if err := reload(srv, cfg, lopts.Limiter, args, getenv, log); err != nil {
					log.Error("reload failed; keeping the running configuration", "err", err)
				} else {
					log.Info("reloaded tokens and limits")
				}
			}
		}
	}()
	defer func() {
		signal.Stop(hup)
		stopReload()
		<-reloaded
	}()

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		log.Error("server stopped", "err", err)
		return 1
	case <-ctx.Done():
	}
	log.Info("shutting down")
	stopRESP() // its clients' commands run through srv: drained first
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	<-served
	return 0
}

// reload reads the configuration again and applies its tokens, rate limits and quotas to srv.
// Other changes (upstreams, listeners, pools) need a restart and are reported.
func reload(srv *proxy.Server, running config.Config, limiter *ratelimit.Limiter, args []string, getenv func(string) string, log *slog.Logger) error {
	cfg, err := config.Load(args, getenv, io.Discard)
	if err != nil {
		return err
	}
	if cfg.Embedded() {
		return errors.New("the embedded backend's token cannot be reloaded")
	}
	var acc proxy.Access
	rl := cfg.RateLimits
	acc.IPRate, acc.TokenRate = rl.IP, rl.Token
	acc.Quota = ratelimit.Quota{Daily: rl.Daily, Monthly: rl.Monthly}
	acc.Proxies = rl.TrustedProxies
	acc.UserHeader = rl.UserHeader
	if cfg.Limited() && limiter == nil {
		log.Warn("rate limits were not configured at start: they need a restart to take effect")
	}
	upstreams := map[string]string{}
	for _, d := range running.Databases {
		upstreams[d.Name] = d.Upstream
	}
	for _, d := range cfg.Databases {
		if up, ok := upstreams[d.Name]; ok && up != d.Upstream {
			log.Warn("a database's upstream changed: that needs a restart", "database", d.Name)
		}
		tl, err := tokenLimits(d.TokenLimits)
		if err != nil {
			return fmt.Errorf("database %s: %w", d.Name, err)
		}
		acc.Databases = append(acc.Databases, proxy.DatabaseAccess{Name: d.Name, Tokens: d.Tokens, ReadOnlyTokens: d.ReadOnlyTokens, TokenLimits: tl})
	}
	return srv.Reload(acc)
}

// openDatabase opens the parts of one database (see backend.Open) and describes it for
// the proxy; closing the returned backend.Database closes them all.
func openDatabase(cfg config.Config, d config.Database, at config.Placement, log *slog.Logger, embedded bool) (proxy.Database, *backend.Database, error) {
	var opts pool.Options
	var err error
	if d.Upstream != "" {
		if opts, err = pool.ParseURL(d.Upstream); err != nil {
			return proxy.Database{}, nil, err
		}
	}
	opts.Size = d.PoolSize
	opts.ReplyTimeout = cfg.Limits.CommandTimeout + 5*time.Second
	opts.MaxResponse = int(cfg.Limits.MaxResponseBytes)
	opts.MaxInflightResponse = int64(cfg.Limits.MaxInflightResponseBytes)
	opts.Logger = log.With("database", d.Name)
	db := proxy.Database{Name: d.Name, Tokens: d.Tokens, ReadOnlyTokens: d.ReadOnlyTokens, CommentShebang: embedded, LogicalDB: at.DB, Shared: at.Shared}
	if db.TokenLimits, err = tokenLimits(d.TokenLimits); err != nil {
		return db, nil, err
	}
	// Tenants' commands run on topts' connections: confined, unless isolation is off, to a
	// Redis ACL user that cannot leave the logical database. The gateway's own connections
	// (pub/sub, read cache, script kills) keep the operator's credentials.
	topts := opts
	if cfg.Isolation == config.IsolationACL && !embedded {
		topts.Confine = confinement(opts, at)
		db.Confined = true
	}
	bc := backend.Config{
		Tenant: topts, Own: opts, PubSub: true, Logger: opts.Logger,
		BlockingConns: *d.BlockingConns, BlockReplyTimeout: cfg.Limits.CommandTimeout + cfg.Limits.MaxBlock + 5*time.Second,
	}
	if len(d.Cluster) > 0 {
		// Eventual (the default) reads from the shards' replicas; strong keeps to the primaries.
		bc.Cluster = d.Cluster
		bc.Mode, _ = replicaset.ParseMode(d.Consistency)
		bc.ReplicaReads = bc.Mode != backend.Strong
		if bc.Mode == backend.Strong {
			// Strong writes are acknowledged by a replica of their shard, as a replicated
			// database's are: WAIT 1 after each write on the primary's connection.
			bc.Tenant.AckReplicas, bc.Tenant.AckTimeout = 1, cfg.AckTimeout
		}
	}
	if d.Replicated() {
		bc.Mode, _ = replicaset.ParseMode(d.Consistency)
		bc.Leader, bc.Replicas, bc.Sentinels, bc.MasterName = d.Upstream, d.ReplicaURLs(), d.Sentinels, d.MasterName
		bc.Region, bc.Regions, bc.HedgeAfter = cfg.Region, d.NodeRegions(), cfg.HedgeAfter
		bc.AckTimeout, bc.MaxLag = cfg.AckTimeout, int64(cfg.MaxLag)
	}
	k := cfg.Cache
	if d.Cache != nil {
		k = *d.Cache
	}
	db.Edge = cache.Edge{MaxAge: k.EdgeMaxAge, StaleWhileRevalidate: k.EdgeStaleWhileRevalidate}
	if k.Enabled {
		bc.Cache = &cache.Options{MaxBytes: int(k.MaxBytes), MaxTTL: k.MaxTTL, Strict: k.Strict}
	}
	parts, err := backend.Open(bc)
	if err != nil {
		return db, nil, err
	}
	if topts.Confine != nil {
		if err := checkConfine(parts.Follow(topts), d.Name, at); err != nil {
			parts.Close()
			return db, nil, err
		}
	}
	db.Backend, db.PubSub, db.Cache, db.KillScripts = parts.Backend, parts.PubSub, parts.Cache, parts.KillScripts
	return db, parts, nil
}

// confinement returns the Redis ACL user that the tenant connections of a database placed
// at at run as. Its password is derived from the operator's credentials, so that every
// gateway with the same configuration sets the same one (ACL SETUSER adds passwords).
func confinement(o pool.Options, at config.Placement) *pool.Confine {
	scope := command.Scope{Shared: at.Shared, Confined: true, DB: at.DB}
	if at.Shared {
		scope.Channels = "db" + strconv.Itoa(at.DB) + ":"
	}
	user := "redisgate-db" + strconv.Itoa(at.DB)
	sum := sha256.Sum256([]byte("redisgate confine\x00" + user + "\x00" + o.Username + "\x00" + o.Password))
	return &pool.Confine{User: user, Password: hex.EncodeToString(sum[:]), Rules: scope.ACLRules()}
}

// checkConfine dials the database once with o and fails when Redis refuses to confine the
// connection; a Redis that cannot be reached is left to the pools, which retry.
func checkConfine(o pool.Options, name string, at config.Placement) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := pool.CheckConfine(ctx, o)
	var cerr *pool.ConfineError
	if !errors.As(err, &cerr) {
		if err != nil {
			o.Logger.Warn("could not check the confinement of the database's connections yet", "err", err)
		}
		return nil
	}
	return fmt.Errorf("--isolation acl: redisgate could not confine the connections of database %s to logical database %d "+
		"with a Redis ACL user of its own (%s): %w; "+
		"the upstream's user must be allowed ACL SETUSER (Redis's default user is), e.g. on the server: ACL SETUSER <upstream user> +acl|setuser; "+
		"or run with --isolation off, and accept that tenants' scripts can reach the server's other logical databases (the rate limiter's state among them)",
		name, at.DB, cerr.User, cerr.Err)
}

// limits is the rate-limiting part of proxy.Options.
type limits struct {
	Limiter           *ratelimit.Limiter
	IPRate, TokenRate ratelimit.Rate
	Quota             ratelimit.Quota
	Proxies           clientip.Proxies
}

// newLimiter builds the rate limiter cfg asks for, with its own connections to the Redis
// that keeps its state, and starts pruning its local state; stop closes both.
func newLimiter(cfg config.Config, first *backend.Database, log *slog.Logger) (limits, func(), error) {
	var l limits
	var err error
	rl := cfg.RateLimits
	l.Proxies = rl.TrustedProxies
	if !cfg.Limited() {
		return l, func() {}, nil
	}
	l.IPRate, l.TokenRate = rl.IP, rl.Token
	l.Quota = ratelimit.Quota{Daily: rl.Daily, Monthly: rl.Monthly}
	var opts pool.Options
	switch d := cfg.Databases[0]; {
	case len(rl.Cluster) > 0:
		// On a Redis Cluster of its own: --limit-redis, if given, carries credentials and TLS.
		if rl.Redis != "" {
			opts, err = pool.ParseURL(rl.Redis)
		}
	case rl.Redis != "":
		opts, err = pool.ParseURL(rl.Redis)
	case d.Replicated():
		// Limiter state lives on the first database's leader, reached with the database's
		// credentials, in a logical database of its own (first.NewPool follows the leader).
		if d.Upstream != "" {
			opts, err = pool.ParseURL(d.Upstream)
		}
		opts.DB = rl.DB
	default:
		// In a logical database of its own on the first database's server, which tenants'
		// connections cannot select (--isolation acl).
		opts, err = pool.ParseURL(cfg.LimiterURL())
	}
	if err != nil {
		return l, nil, fmt.Errorf("rate limiter redis: %w", err)
	}
	opts.Size = 2
	opts.ClientName = "redisgate-limiter"
	opts.DialTimeout = 500 * time.Millisecond
	opts.Logger = log.With("component", "ratelimit")
	var store interface {
		poolstore.Backend
		Close() error
	}
	switch {
	case len(rl.Cluster) > 0:
		if store, err = backend.OpenCluster(rl.Cluster, opts, first); err != nil {
			return l, nil, fmt.Errorf("rate limiter cluster: %w", err)
		}
	case rl.Redis == "":
		store = first.NewPool(opts)
	default:
		store = pool.New(opts)
	}
	l.Limiter = ratelimit.NewLimiter(poolstore.New(store), ratelimit.Options{Timeout: rl.Timeout, FailClosed: rl.FailClosed, Logger: opts.Logger})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Limiter.Run(ctx, time.Minute)
	}()
	return l, func() {
		cancel()
		<-done
		store.Close()
	}, nil
}

// tokenLimits turns a database's per-token overrides into the proxy's.
func tokenLimits(in map[string]config.TokenLimit) (map[string]proxy.TokenLimit, error) {
	out := map[string]proxy.TokenLimit{}
	for tok, tl := range in {
		out[tok] = proxy.TokenLimit{Rate: tl.Rate, Quota: ratelimit.Quota{Daily: tl.Daily, Monthly: tl.Monthly}}
	}
	return out, nil
}

// startEmbedded starts an in-memory Redis on a loopback port and points cfg at it,
// generating a token when none was given.
func startEmbedded(cfg *config.Config) (*miniredis.Miniredis, error) {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("embedded backend: %w", err)
	}
	token := cfg.Token
	if token == "" {
		var b [24]byte
		if _, err := rand.Read(b[:]); err != nil {
			m.Close()
			return nil, fmt.Errorf("generate token: %w", err)
		}
		token = hex.EncodeToString(b[:])
	}
	blocking := cfg.BlockingConns
	cfg.Databases = []config.Database{{Name: "embedded", Upstream: "redis://" + m.Addr(), Tokens: []string{token}, PoolSize: cfg.PoolSize, BlockingConns: &blocking}}
	return m, nil
}

// tokenBanner returns the start banner's lines about the token: where it came from, and the
// token itself when it was given on the command line or generated, else its fingerprint and
// where to find it; then a request to try, in the single-database forms.
func tokenBanner(cfg config.Config, url string, embedded bool) []string {
	if cfg.Upstream == "" && cfg.Sentinels == "" && !embedded {
		return []string{fmt.Sprintf("tokens:  those of the config file %s (%d databases)", cfg.File, len(cfg.Databases))}
	}
	token := cfg.Databases[0].Tokens[0]
	sum := sha256.Sum256([]byte(token))
	shown, bearer := fmt.Sprintf("sha256:%x… (fingerprint)", sum[:4]), token
	src := cfg.TokenSource
	from, how := "from "+src, ""
	switch src {
	case "":
		shown, from = token, "generated: pass --token or --token-file to keep it across restarts"
	case "--token":
		shown = token
	case "--token-file", "REDISGATE_TOKEN_FILE", "config file's token_file":
		if src == "config file's token_file" {
			from = "from the config file's token_file"
		}
		from += " " + cfg.TokenFile
		how = "`cat " + cfg.TokenFile + "` prints it"
		bearer = "$(cat " + cfg.TokenFile + ")"
	case "REDISGATE_TOKEN":
		how = "`echo $REDISGATE_TOKEN` prints it"
		bearer = "$REDISGATE_TOKEN"
	default:
		from = "from the config file " + cfg.File
		bearer = "<the token in " + cfg.File + ">"
	}
	parts := []string{from}
	if embedded && src != "" {
		parts = append(parts, "stays the same across restarts")
	}
	if how != "" {
		parts = append(parts, how)
	}
	path := "/ping"
	if embedded {
		path = "/set/hello/world"
	}
	return []string{
		fmt.Sprintf("token:   %s (%s)", shown, strings.Join(parts, "; ")),
		fmt.Sprintf("try:     curl -H \"Authorization: Bearer %s\" %s%s", bearer, url, path),
	}
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
