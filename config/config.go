// Package config loads redisgate's configuration from flags, environment variables and an optional YAML file.
package config

import (
	"encoding"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/ratelimit"
	"github.com/redisgate/redisgate/ratelimit/clientip"
	"github.com/redisgate/redisgate/replicaset"
)

// MinTokenLength is the shortest token accepted.
const MinTokenLength = 16

// Config is everything redisgate can be told. Precedence: flags, then environment, then file, then defaults.
type Config struct {
	// Listen is the address of the public HTTP listener.
	Listen string `yaml:"listen"`
	// RESPListen is the address of the Redis-protocol listener; empty: none.
	RESPListen string `yaml:"resp_listen"`
	// RESPMaxPins bounds the clients of one database holding a pinned Redis connection for
	// WATCH on the Redis-protocol listener at once.
	RESPMaxPins int `yaml:"resp_max_pins"`
	// Upstream, Token and ReadOnlyToken describe a single database; Databases describes several.
	Upstream      string `yaml:"upstream" check:"redis-url"`
	Token         string `yaml:"token" secret:"true"`
	ReadOnlyToken string `yaml:"read_only_token" secret:"true"`
	// TokenFile names a file whose content, trimmed of white space, is Token.
	TokenFile string `yaml:"token_file"`
	// TokenSource says where Token came from: "--token", "REDISGATE_TOKEN", "--token-file",
	// "REDISGATE_TOKEN_FILE", "config file", "config file's token_file", or "" when none was given.
	TokenSource string `yaml:"-"`
	// PoolSize is the number of Redis connections per database unless the database sets its own.
	PoolSize int `yaml:"pool_size"`
	// Procs is how many CPUs may run the gateway's Go code at once (GOMAXPROCS, which wins
	// when set); 0: Go's default, the CPUs the process may use.
	Procs int `yaml:"procs"`
	// BlockingConns is the number of dedicated connections per database for blocking
	// commands unless the database sets its own; 0 refuses blocking commands.
	BlockingConns int `yaml:"blocking_conns"`
	// Replicas, Sentinels (comma-separated) and MasterName describe the single database's
	// replicated tier.
	Replicas   string `yaml:"replicas"`
	Sentinels  string `yaml:"sentinels"`
	MasterName string `yaml:"master_name"`
	// Cluster (comma-separated host:port seed nodes) makes the single database a Redis Cluster.
	Cluster string `yaml:"cluster"`
	// Consistency is the default mode of replicated databases: eventual or strong.
	Consistency string `yaml:"consistency"`
	// AckTimeout bounds how long a strong write waits for a replica to acknowledge it.
	AckTimeout time.Duration `yaml:"ack_timeout"`
	// MaxLag is how far behind the leader, in bytes of replication stream, a replica may be and serve reads.
	MaxLag Size `yaml:"max_lag"`
	// Region is the gateway's own region: eventual reads prefer replicas labelled with it
	// among those equally near. Regions labels nodes (host:port=region) of every database,
	// under the databases' own labels.
	Region  string  `yaml:"region"`
	Regions Regions `yaml:"regions"`
	// HedgeAfter, when positive, sends an eventual single-key read the chosen replica has not
	// answered after it to the next nearest node too; 0: off.
	HedgeAfter time.Duration `yaml:"hedge_after"`
	// Databases lists the databases served, each reached by its own tokens.
	Databases []Database `yaml:"databases"`
	// Limits bound what one request may cost.
	Limits Limits `yaml:"limits"`
	// RateLimits limit requests per client IP and per user before any command runs.
	RateLimits RateLimits `yaml:"rate_limits"`
	// CORSOrigin is sent as Access-Control-Allow-Origin.
	CORSOrigin string `yaml:"cors_origin"`
	// TLSCert and TLSKey, both set, make the public listener speak HTTPS.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// AdminListen is the address of the admin listener (/metrics, /healthz, /readyz); empty: none.
	AdminListen string `yaml:"admin_listen"`
	// Pprof serves /debug/pprof on the admin listener.
	Pprof bool `yaml:"pprof"`
	// Cache configures the read cache and edge caching of databases that set none.
	Cache Cache `yaml:"cache"`
	// Isolation is how databases are kept inside their logical database: acl or off.
	Isolation Isolation `yaml:"isolation"`
	// LogLevel is debug, info, warn or error; LogFormat is text or json.
	LogLevel  LogLevel  `yaml:"log_level"`
	LogFormat LogFormat `yaml:"log_format"`
	// File is the config file that was read, if any.
	File string `yaml:"-"`
}

// RateLimits configures quotas enforced before commands run.
type RateLimits struct {
	// IP and Token are GCRA rates (COUNT/UNIT[:BURST]) per client IP and per user; zero: none.
	IP    ratelimit.Rate `yaml:"ip"`
	Token ratelimit.Rate `yaml:"token"`
	// Daily and Monthly cap the commands of each user per calendar day and month (UTC); 0: none.
	Daily   int64 `yaml:"daily"`
	Monthly int64 `yaml:"monthly"`
	// TrustedProxies lists the CIDRs whose X-Forwarded-For and Forwarded headers are believed.
	// Written as comma-separated CIDRs, as in --trusted-proxies.
	TrustedProxies clientip.Proxies `yaml:"trusted_proxies"`
	// UserHeader names a header carrying the user id, believed only from trusted proxies;
	// without it the user is the token.
	UserHeader string `yaml:"user_header"`
	// Redis is the URL of the Redis that keeps limiter state (default: the first database's
	// server, logical database DB). With Cluster it only carries credentials and TLS.
	Redis string `yaml:"redis" check:"redis-url"`
	// Cluster lists host:port seed nodes of a Redis Cluster, no database's, that keeps limiter
	// state. Written as comma-separated addresses, as in --limit-cluster.
	Cluster []string `yaml:"cluster"`
	// DB is the logical database of the first database's server that keeps limiter state
	// when Redis is not given; no database may use it.
	DB int `yaml:"db"`
	// FailClosed denies requests when the limiter's Redis cannot decide (default: allow them).
	FailClosed bool `yaml:"fail_closed"`
	// Timeout bounds one limiter decision's trip to Redis.
	Timeout time.Duration `yaml:"timeout"`
}

// TokenLimit overrides the rate limits of one token.
type TokenLimit struct {
	// Rate is written COUNT/UNIT[:BURST], as --limit-token; zero: the database's.
	Rate    ratelimit.Rate `yaml:"rate"`
	Daily   int64          `yaml:"daily"`
	Monthly int64          `yaml:"monthly"`
}

// Database is one upstream Redis and the tokens that reach it.
type Database struct {
	Name           string   `yaml:"name"`
	Upstream       string   `yaml:"upstream" check:"redis-url"`
	Tokens         []string `yaml:"tokens" secret:"true"`
	ReadOnlyTokens []string `yaml:"read_only_tokens" secret:"true"`
	PoolSize       int      `yaml:"pool_size"`
	// BlockingConns of nil takes the top-level value.
	BlockingConns *int `yaml:"blocking_conns"`
	// TokenLimits overrides rate limits and quotas per token (keyed by the token).
	TokenLimits map[string]TokenLimit `yaml:"token_limits"`
	// Replicas are the leader's replicas (static topology): URLs, optionally with a region.
	Replicas []Replica `yaml:"replicas" check:"redis-url"`
	// Regions labels nodes by host:port with their region: Sentinel-discovered replicas, the
	// leader; a replica's own region wins.
	Regions Regions `yaml:"regions"`
	// Sentinels (host:port) and MasterName discover the leader and replicas and follow
	// failovers; Upstream then only carries credentials, DB and TLS.
	Sentinels  []string `yaml:"sentinels"`
	MasterName string   `yaml:"master_name"`
	// Cluster (host:port seed nodes) makes the database a Redis Cluster; Upstream then only
	// carries credentials and TLS, and its database must be 0.
	Cluster []string `yaml:"cluster"`
	// Consistency is eventual or strong; empty takes the top-level value.
	Consistency string `yaml:"consistency"`
	// Cache of nil takes the top-level block; a block given replaces it, except that zero
	// max_bytes and max_ttl take the top-level values.
	Cache *Cache `yaml:"cache"`
}

// Cache configures a database's in-gateway read cache and the edge caching of its GET answers.
type Cache struct {
	// Enabled turns the read cache on.
	Enabled bool `yaml:"enabled"`
	// MaxBytes bounds the memory of the cached replies.
	MaxBytes Size `yaml:"max_bytes"`
	// MaxTTL bounds how long a reply is kept.
	MaxTTL time.Duration `yaml:"max_ttl"`
	// Strict makes every hit wait for the invalidations Redis sent before it (one shared round trip).
	Strict bool `yaml:"strict"`
	// EdgeMaxAge, when at least 1s, gives GET answers of read commands Cache-Control and ETag headers.
	EdgeMaxAge time.Duration `yaml:"edge_max_age"`
	// EdgeStaleWhileRevalidate is sent as stale-while-revalidate with EdgeMaxAge.
	EdgeStaleWhileRevalidate time.Duration `yaml:"edge_stale_while_revalidate"`
}

func (k *Cache) validate(where string) error {
	if k.MaxBytes < 1 {
		return fmt.Errorf("%s.max_bytes: must be positive, got %d", where, k.MaxBytes)
	}
	if k.MaxTTL <= 0 {
		return fmt.Errorf("%s.max_ttl: must be positive, got %s", where, k.MaxTTL)
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"edge_max_age", k.EdgeMaxAge}, {"edge_stale_while_revalidate", k.EdgeStaleWhileRevalidate}} {
		if f.v != 0 && (f.v < time.Second || f.v%time.Second != 0) {
			return fmt.Errorf("%s.%s: whole seconds, at least 1s, or 0 (off), got %s", where, f.name, f.v)
		}
	}
	return nil
}

// Replicated reports whether the database has replicas or Sentinels.
func (d *Database) Replicated() bool { return len(d.Replicas) > 0 || len(d.Sentinels) > 0 }

// Limits bound the size and duration of requests.
type Limits struct {
	MaxBodyBytes   Size          `yaml:"max_body_bytes"`
	MaxPipeline    int           `yaml:"max_pipeline"`
	MaxArgs        int           `yaml:"max_args"`
	CommandTimeout time.Duration `yaml:"command_timeout"`
	MaxBlock       time.Duration `yaml:"max_block"`
	ReadTimeout    time.Duration `yaml:"read_timeout"`
	WriteTimeout   time.Duration `yaml:"write_timeout"`
	IdleTimeout    time.Duration `yaml:"idle_timeout"`
	MaxHeaderBytes Size          `yaml:"max_header_bytes"`
	MaxConnsPerIP  int           `yaml:"max_conns_per_ip"`
	// MaxConns bounds the concurrent connections of the public listener; 0: none.
	MaxConns int `yaml:"max_conns"`
	// HeaderTimeout bounds the wait for a request's line and headers (ReadTimeout then bounds its body).
	HeaderTimeout time.Duration `yaml:"header_timeout"`
	// MemoryLimit is the Go runtime's soft memory limit (GOMEMLIMIT, which wins when set); 0: none.
	MemoryLimit Size `yaml:"memory_limit"`
	// MaxInflightBody bounds the memory of request bodies being read; 0: a quarter of the
	// memory limit (256 MiB without one), at least MaxBodyBytes.
	MaxInflightBody Size `yaml:"max_inflight_body"`
	// MaxStreamsPerToken bounds the SSE streams (subscribe, psubscribe, monitor) one token holds open.
	MaxStreamsPerToken int `yaml:"max_streams_per_token"`
	// StreamHeartbeat is how long an SSE stream may stay silent before a comment line is sent.
	StreamHeartbeat time.Duration `yaml:"stream_heartbeat"`
	// MaxResponseBytes bounds the raw Redis replies of one request; past it the request gets an error.
	MaxResponseBytes Size `yaml:"max_response_bytes"`
	// MaxInflightResponseBytes bounds the raw Redis replies a database's connection pool holds at once.
	MaxInflightResponseBytes Size `yaml:"max_inflight_response_bytes"`
}

// InflightBody returns the budget of request-body memory in flight under a process memory
// limit of limit bytes (0: none): MaxInflightBody when set, else a quarter of limit (256 MiB
// without one), never less than MaxBodyBytes.
func (l Limits) InflightBody(limit int64) int64 {
	if l.MaxInflightBody > 0 {
		return int64(l.MaxInflightBody)
	}
	b := int64(256 << 20)
	if limit > 0 {
		b = limit / 4
	}
	return max(b, int64(l.MaxBodyBytes))
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		Listen:        "127.0.0.1:8079",
		PoolSize:      4,
		BlockingConns: 2,
		RESPMaxPins:   8,
		CORSOrigin:    "*",
		AdminListen:   "127.0.0.1:9079",
		RateLimits:    RateLimits{Timeout: 50 * time.Millisecond, DB: DefaultLimitDB},
		Isolation:     IsolationACL,
		LogLevel:      "info",
		LogFormat:     "text",
		Consistency:   "eventual",
		AckTimeout:    time.Second,
		MaxLag:        1 << 20,
		Cache:         Cache{MaxBytes: 64 << 20, MaxTTL: time.Minute},
		Limits: Limits{
			MaxBodyBytes:   10 << 20,
			MaxPipeline:    10000,
			MaxArgs:        1000000,
			CommandTimeout: 10 * time.Second,
			MaxBlock:       30 * time.Second,
			ReadTimeout:    30 * time.Second,
			WriteTimeout:   30 * time.Second,
			IdleTimeout:    120 * time.Second,
			MaxHeaderBytes: 4 << 10,
			MaxConnsPerIP:  1024,
			MaxConns:       10000,
			HeaderTimeout:  10 * time.Second,
			MemoryLimit:    1 << 30,

			MaxStreamsPerToken: 100,
			StreamHeartbeat:    15 * time.Second,

			// One request may read 64 MiB of replies, far more than a REST client should want
			// in one answer, and four such answers per database fit in 256 MiB.
			MaxResponseBytes:         64 << 20,
			MaxInflightResponseBytes: 256 << 20,
		},
	}
}

// option is one setting reachable by flag and environment variable.
type option struct {
	flag, env, usage string
	set              func(c *Config, v string) error
	get              func(c *Config) string
}

func options() []option {
	str := func(p func(*Config) *string) (func(*Config, string) error, func(*Config) string) {
		return func(c *Config, v string) error { *p(c) = v; return nil }, func(c *Config) string { return *p(c) }
	}
	num := func(p func(*Config) *int, parse func(string) (int, error)) (func(*Config, string) error, func(*Config) string) {
		return func(c *Config, v string) error {
				n, err := parse(v)
				*p(c) = n
				return err
			}, func(c *Config) string {
				return strconv.Itoa(*p(c))
			}
	}
	size := func(p func(*Config) *Size) (func(*Config, string) error, func(*Config) string) {
		return func(c *Config, v string) error { return p(c).UnmarshalText([]byte(v)) },
			func(c *Config) string { return p(c).String() }
	}
	text := func(p func(*Config) encoding.TextUnmarshaler, get func(*Config) string) (func(*Config, string) error, func(*Config) string) {
		return func(c *Config, v string) error { return p(c).UnmarshalText([]byte(v)) }, get
	}
	dur := func(p func(*Config) *time.Duration) (func(*Config, string) error, func(*Config) string) {
		return func(c *Config, v string) error {
				d, err := parseDuration(v)
				*p(c) = d
				return err
			}, func(c *Config) string {
				return p(c).String()
			}
	}
	opt := func(flag, usage string, set func(*Config, string) error, get func(*Config) string) option {
		return option{flag: flag, env: "REDISGATE_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_")), usage: usage, set: set, get: get}
	}
	var o []option
	add := func(flag, usage string, f func(*Config, string) error, g func(*Config) string) {
		o = append(o, opt(flag, usage, f, g))
	}
	s, g := str(func(c *Config) *string { return &c.Listen })
	add("listen", "address of the HTTP listener", s, g)
	s, g = str(func(c *Config) *string { return &c.RESPListen })
	add("resp-listen", "address of the Redis-protocol (RESP2/RESP3) listener, served with the same tokens, limits and TLS; empty: none", s, g)
	s, g = num(func(c *Config) *int { return &c.RESPMaxPins }, parseInt)
	add("resp-max-pins", "most clients of one database holding a Redis connection of their own for WATCH on the Redis-protocol listener; more get an error", s, g)
	s, g = str(func(c *Config) *string { return &c.Upstream })
	add("upstream", "Redis URL (redis://[user:password@]host:port[/db] or rediss:// for TLS); none: an embedded in-memory backend", s, g)
	s, g = str(func(c *Config) *string { return &c.Token })
	add("token", "read-write token of the single database (at least 16 characters; generated for the embedded backend)", s, g)
	s, g = str(func(c *Config) *string { return &c.TokenFile })
	add("token-file", "file holding the read-write token of the single database (trimmed of white space), in place of --token", s, g)
	s, g = str(func(c *Config) *string { return &c.ReadOnlyToken })
	add("read-only-token", "read-only token of the single database", s, g)
	s, g = str(func(c *Config) *string { return &c.Replicas })
	add("replica", "comma-separated redis:// URLs of the upstream's replicas: eventual reads go to the nearest (see --region, --regions)", s, g)
	s, g = str(func(c *Config) *string { return &c.Sentinels })
	add("sentinel", "comma-separated host:port of Redis Sentinels that name the leader and replicas (with --master-name)", s, g)
	s, g = str(func(c *Config) *string { return &c.MasterName })
	add("master-name", "the Sentinels' name of the master", s, g)
	s, g = str(func(c *Config) *string { return &c.Cluster })
	add("cluster", "comma-separated host:port seed nodes of a Redis Cluster serving the database (--upstream then only carries credentials and TLS)", s, g)
	s, g = str(func(c *Config) *string { return &c.Consistency })
	add("consistency", "eventual (reads from replicas) or strong (reads from the leader, writes acknowledged by a replica); a request may override it with the Redisgate-Consistency header", s, g)
	s, g = dur(func(c *Config) *time.Duration { return &c.AckTimeout })
	add("ack-timeout", "how long a strong write waits for a replica's acknowledgement", s, g)
	s, g = size(func(c *Config) *Size { return &c.MaxLag })
	add("max-lag", "bytes of replication stream a replica may lag and still serve reads", s, g)
	s, g = str(func(c *Config) *string { return &c.Region })
	add("region", "the gateway's own region: among replicas equally near (by measured latency), those labelled with it serve eventual reads", s, g)
	s, g = text(func(c *Config) encoding.TextUnmarshaler { return &c.Regions }, func(c *Config) string { return c.Regions.String() })
	add("regions", "region labels of nodes, host:port=region comma-separated (replicas of --replica, Sentinel-discovered ones, the leader)", s, g)
	s, g = dur(func(c *Config) *time.Duration { return &c.HedgeAfter })
	add("hedge-after", "send an eventual single-key read the nearest replica has not answered after this long to the next nearest node too, and take the first answer; 0: off", s, g)
	s, g = num(func(c *Config) *int { return &c.PoolSize }, parseInt)
	add("pool-size", "Redis connections per database", s, g)
	s, g = num(func(c *Config) *int { return &c.Procs }, parseInt)
	add("procs", "CPUs that may run the gateway's code at once (GOMAXPROCS, which wins when set); 0: Go's default, the CPUs available", s, g)
	s, g = num(func(c *Config) *int { return &c.BlockingConns }, parseInt)
	add("blocking-conns", "dedicated Redis connections per database for blocking commands (BLPOP, XREAD BLOCK, WAIT…); 0 refuses them", s, g)
	s, g = size(func(c *Config) *Size { return &c.Limits.MaxBodyBytes })
	add("max-body", "largest request body in bytes (suffixes KiB, MiB accepted)", s, g)
	s, g = size(func(c *Config) *Size { return &c.Limits.MaxResponseBytes })
	add("max-response", "largest raw Redis reply to one request in bytes (suffixes KiB, MiB accepted); past it the replies are discarded and the request fails", s, g)
	s, g = size(func(c *Config) *Size { return &c.Limits.MaxInflightResponseBytes })
	add("max-inflight-response", "raw Redis reply bytes all requests to one database may hold at once; a reply past it fails its request", s, g)
	s, g = num(func(c *Config) *int { return &c.Limits.MaxPipeline }, parseInt)
	add("max-pipeline", "most commands in one /pipeline or /multi-exec request", s, g)
	s, g = num(func(c *Config) *int { return &c.Limits.MaxArgs }, parseInt)
	add("max-args", "most arguments in one command", s, g)
	s, g = dur(func(c *Config) *time.Duration { return &c.Limits.CommandTimeout })
	add("command-timeout", "deadline of one request's Redis work", s, g)
	s, g = dur(func(c *Config) *time.Duration { return &c.Limits.MaxBlock })
	add("max-block", "longest wait of a blocking command; longer or infinite timeouts are cut to it", s, g)
	s, g = dur(func(c *Config) *time.Duration { return &c.Limits.ReadTimeout })
	add("read-timeout", "time allowed to read one HTTP request, headers and body", s, g)
	s, g = dur(func(c *Config) *time.Duration { return &c.Limits.WriteTimeout })
	add("write-timeout", "time allowed to write one HTTP response", s, g)
	s, g = dur(func(c *Config) *time.Duration { return &c.Limits.IdleTimeout })
	add("idle-timeout", "how long an idle keep-alive connection is kept", s, g)
	s, g = num(func(c *Config) *int { return &c.Limits.MaxStreamsPerToken }, parseInt)
	add("max-streams-per-token", "most SSE streams (/subscribe, /psubscribe, /monitor) one token holds open; more get 429", s, g)
	s, g = dur(func(c *Config) *time.Duration { return &c.Limits.StreamHeartbeat })
	add("stream-heartbeat", "silence after which an SSE stream gets a heartbeat comment line", s, g)
	s, g = text(func(c *Config) encoding.TextUnmarshaler { return &c.RateLimits.IP }, func(c *Config) string { return c.RateLimits.IP.String() })
	add("limit-ip", "rate limit per client IP, COUNT/UNIT[:BURST] with UNIT s, m, h or d (e.g. 10/s, 600/m:50); empty: none", s, g)
	s, g = text(func(c *Config) encoding.TextUnmarshaler { return &c.RateLimits.Token }, func(c *Config) string { return c.RateLimits.Token.String() })
	add("limit-token", "rate limit per user (token, or --user-header), COUNT/UNIT[:BURST]; empty: none", s, g)
	q := func(p func(*Config) *int64) (func(*Config, string) error, func(*Config) string) {
		return func(c *Config, v string) error {
				n, err := parseInt64(v)
				*p(c) = n
				return err
			}, func(c *Config) string {
				return strconv.FormatInt(*p(c), 10)
			}
	}
	s, g = q(func(c *Config) *int64 { return &c.RateLimits.Daily })
	add("quota-daily", "commands per user per UTC day (a pipeline of n costs n); 0: none", s, g)
	s, g = q(func(c *Config) *int64 { return &c.RateLimits.Monthly })
	add("quota-monthly", "commands per user per UTC month; 0: none", s, g)
	// Proxies do not print themselves; the default is none.
	s, g = text(func(c *Config) encoding.TextUnmarshaler { return &c.RateLimits.TrustedProxies }, func(*Config) string { return "" })
	add("trusted-proxies", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For/Forwarded headers name the client", s, g)
	s, g = str(func(c *Config) *string { return &c.RateLimits.UserHeader })
	add("user-header", "header holding the user id for --limit-token, believed only from trusted proxies", s, g)
	s, g = str(func(c *Config) *string { return &c.RateLimits.Redis })
	add("limit-redis", "Redis URL keeping rate-limit state (default: the first database's server, logical database --limit-db)", s, g)
	s, g = func(c *Config, v string) error { c.RateLimits.Cluster = splitList(v); return nil },
		func(c *Config) string { return strings.Join(c.RateLimits.Cluster, ",") }
	add("limit-cluster", "comma-separated host:port seed nodes of a Redis Cluster keeping rate-limit state (no database's cluster; --limit-redis then only carries credentials and TLS)", s, g)
	s, g = num(func(c *Config) *int { return &c.RateLimits.DB }, parseInt)
	add("limit-db", "logical database of the first database's server keeping rate-limit state when --limit-redis is not given; tenants cannot select it", s, g)
	s, g = func(c *Config, v string) error {
		b, err := parseBool(v)
		c.RateLimits.FailClosed = b
		return err
	}, func(c *Config) string { return strconv.FormatBool(c.RateLimits.FailClosed) }
	add("limit-fail-closed", "deny requests (503) when the limiter's Redis cannot decide, instead of allowing them", s, g)
	s, g = dur(func(c *Config) *time.Duration { return &c.RateLimits.Timeout })
	add("limit-timeout", "deadline of one rate-limit decision's trip to Redis", s, g)
	s, g = str(func(c *Config) *string { return &c.CORSOrigin })
	add("cors-origin", "Access-Control-Allow-Origin sent on every response", s, g)
	s, g = size(func(c *Config) *Size { return &c.Limits.MaxHeaderBytes })
	add("max-header", "largest request line plus headers in bytes; larger gets 431", s, g)
	s, g = num(func(c *Config) *int { return &c.Limits.MaxConnsPerIP }, parseInt)
	add("max-conns-per-ip", "most concurrent connections from one client IP, trusted proxies exempt; more get 429 (0: no limit)", s, g)
	s, g = num(func(c *Config) *int { return &c.Limits.MaxConns }, parseInt)
	add("max-conns", "most concurrent connections in all; more get 503 (0: no limit)", s, g)
	s, g = dur(func(c *Config) *time.Duration { return &c.Limits.HeaderTimeout })
	add("header-timeout", "time allowed to send a request's line and headers, from the connection's opening or the request's first byte (slow clients get 408)", s, g)
	s, g = size(func(c *Config) *Size { return &c.Limits.MemoryLimit })
	add("memory-limit", "soft memory limit of the Go runtime (GOMEMLIMIT, which wins when set); 0: none", s, g)
	s, g = size(func(c *Config) *Size { return &c.Limits.MaxInflightBody })
	add("max-inflight-body", "memory of request bodies being read, server-wide; past it a body waits up to 1s, then 503 (0: a quarter of the memory limit, 256MiB without one, at least --max-body)", s, g)
	s, g = str(func(c *Config) *string { return &c.TLSCert })
	add("tls-cert", "PEM certificate file: serve HTTPS (with --tls-key)", s, g)
	s, g = str(func(c *Config) *string { return &c.TLSKey })
	add("tls-key", "PEM private key file of --tls-cert", s, g)
	s, g = str(func(c *Config) *string { return &c.AdminListen })
	add("admin-listen", "address of the admin listener serving /metrics, /healthz and /readyz (never expose it publicly); empty: none", s, g)
	s, g = func(c *Config, v string) error {
		b, err := parseBool(v)
		c.Pprof = b
		return err
	}, func(c *Config) string { return strconv.FormatBool(c.Pprof) }
	add("pprof", "serve /debug/pprof on the admin listener", s, g)
	boolean := func(p func(*Config) *bool) (func(*Config, string) error, func(*Config) string) {
		return func(c *Config, v string) error {
				b, err := parseBool(v)
				*p(c) = b
				return err
			}, func(c *Config) string {
				return strconv.FormatBool(*p(c))
			}
	}
	s, g = boolean(func(c *Config) *bool { return &c.Cache.Enabled })
	add("cache", "keep hot read replies in the gateway, evicted by Redis's CLIENT TRACKING invalidations (--cache=true)", s, g)
	s, g = size(func(c *Config) *Size { return &c.Cache.MaxBytes })
	add("cache-max-bytes", "memory bound of each database's read cache (suffixes KiB, MiB accepted)", s, g)
	s, g = dur(func(c *Config) *time.Duration { return &c.Cache.MaxTTL })
	add("cache-max-ttl", "longest time a reply stays in the read cache", s, g)
	s, g = boolean(func(c *Config) *bool { return &c.Cache.Strict })
	add("cache-strict", "make every cache hit wait for the invalidations Redis sent before it (one shared round trip), so that no write made anywhere is missed", s, g)
	s, g = dur(func(c *Config) *time.Duration { return &c.Cache.EdgeMaxAge })
	add("edge-max-age", "Cache-Control max-age (whole seconds) and ETag on GET answers of read commands whose token is in ?_token=; 0: no edge caching", s, g)
	s, g = dur(func(c *Config) *time.Duration { return &c.Cache.EdgeStaleWhileRevalidate })
	add("edge-stale-while-revalidate", "Cache-Control stale-while-revalidate sent with --edge-max-age; 0: none", s, g)
	s, g = text(func(c *Config) encoding.TextUnmarshaler { return &c.Isolation }, func(c *Config) string { return string(c.Isolation) })
	add("isolation", "acl: each database's connections run as a Redis ACL user of the gateway's own that cannot leave its logical database (scripts included); off: command checks only", s, g)
	s, g = text(func(c *Config) encoding.TextUnmarshaler { return &c.LogLevel }, func(c *Config) string { return string(c.LogLevel) })
	add("log-level", "debug, info, warn or error", s, g)
	s, g = text(func(c *Config) encoding.TextUnmarshaler { return &c.LogFormat }, func(c *Config) string { return string(c.LogFormat) })
	add("log-format", "text or json", s, g)
	return o
}

// Load reads the configuration from args (without the program name), the environment as getenv
// reports it, and the YAML file named by --config or REDISGATE_CONFIG. Help goes to out.
func Load(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	opts := options()
	fs := flag.NewFlagSet("redisgate", flag.ContinueOnError)
	fs.SetOutput(out)
	set := map[string]string{}
	var file string
	fs.StringVar(&file, "config", "", "YAML config file (env REDISGATE_CONFIG); flags and env override it")
	def := Default()
	for _, o := range opts {
		usage := fmt.Sprintf("%s (env %s, default %q)", o.usage, o.env, o.get(&def))
		record := func(v string) error {
			set[o.flag] = v
			return nil
		}
		if d := o.get(&def); d == "true" || d == "false" {
			fs.BoolFunc(o.flag, usage, record) // --pprof alone means true
		} else {
			fs.Func(o.flag, usage, record)
		}
	}
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: redisgate [flags]\n\nredisgate serves the Upstash Redis REST API in front of Redis.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, flagError(err, opts)
	}
	if fs.NArg() > 0 {
		return Config{}, argumentError(args, len(args)-fs.NArg(), def, opts)
	}
	if file == "" {
		file = getenv("REDISGATE_CONFIG")
	}
	c := def
	if file != "" {
		if err := readFile(file, &c); err != nil {
			return Config{}, err
		}
		c.File = file
	}
	level := map[string]string{}
	for _, o := range opts {
		if v := getenv(o.env); v != "" {
			if err := o.set(&c, v); err != nil {
				return Config{}, fmt.Errorf("%s: %w", o.env, err)
			}
			level[o.flag] = o.env
		}
	}
	for _, o := range opts {
		if v, ok := set[o.flag]; ok {
			if err := o.set(&c, v); err != nil {
				return Config{}, fmt.Errorf("--%s: %w", o.flag, err)
			}
			level[o.flag] = "--" + o.flag
		}
	}
	tokenSrc, fileSrc := level["token"], level["token-file"]
	if tokenSrc == "" && c.Token != "" {
		tokenSrc = "config file"
	}
	if fileSrc == "" && c.TokenFile != "" {
		fileSrc = "config file"
	}
	if err := c.readTokenFile(tokenSrc, fileSrc); err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	c.Normalize()
	return c, nil
}

// readTokenFile settles Token and TokenSource; tokenSrc and fileSrc say where the token
// and the token file were given ("--token", "REDISGATE_TOKEN", "config file"; "" when not
// given). The one given at the stronger level (flag over environment over file) wins; both
// at the same level conflict.
func (c *Config) readTokenFile(tokenSrc, fileSrc string) error {
	rank := func(src string) int {
		switch {
		case strings.HasPrefix(src, "--"):
			return 2
		case src == "config file":
			return 0
		}
		return 1
	}
	c.TokenSource = tokenSrc
	if fileSrc == "" {
		return nil
	}
	if tokenSrc != "" {
		switch tr, fr := rank(tokenSrc), rank(fileSrc); {
		case tr > fr:
			c.TokenFile = ""
			return nil
		case tr == fr:
			return fmt.Errorf("token and token_file: give one, not both (%s and %s)", tokenSrc, fileSrc)
		}
	}
	if fileSrc == "config file" {
		fileSrc = "config file's token_file"
	}
	b, err := os.ReadFile(c.TokenFile)
	if err != nil {
		return fmt.Errorf("token_file (%s): %w", fileSrc, err)
	}
	c.Token = strings.TrimSpace(string(b))
	if c.Token == "" {
		return fmt.Errorf("token_file (%s): %s holds no token", fileSrc, c.TokenFile)
	}
	c.TokenSource = fileSrc
	return nil
}

// Embedded reports whether no upstream is configured, so the embedded backend serves.
func (c *Config) Embedded() bool {
	return c.Upstream == "" && c.Sentinels == "" && c.Cluster == "" && len(c.Databases) == 0
}

// Validate checks the configuration, with the defaults Normalize would fill in, and does not
// change it. Its errors name the field at fault.
func (c *Config) Validate() error {
	n := *c
	n.Databases = c.databases()
	return n.check(len(c.Databases) > 0)
}

// Normalize fills in what the configuration leaves to defaults: the single-database form
// (upstream, token…) becomes a database named default, and each database takes the
// top-level pool size, blocking connections, consistency and cache it does not set.
// Load calls it after Validate.
func (c *Config) Normalize() { c.Databases = c.databases() }

// databases returns the databases served with the defaults filled in, as Normalize
// describes; it does not change c.
func (c *Config) databases() []Database {
	in := c.Databases
	if len(in) == 0 && (c.Upstream != "" || c.Sentinels != "" || c.Cluster != "") && c.Token != "" {
		db := Database{Name: "default", Upstream: c.Upstream, Tokens: []string{c.Token},
			Replicas: replicaList(c.Replicas), Sentinels: splitList(c.Sentinels), MasterName: c.MasterName,
			Cluster: splitList(c.Cluster)}
		if c.ReadOnlyToken != "" {
			db.ReadOnlyTokens = []string{c.ReadOnlyToken}
		}
		in = []Database{db}
	}
	if len(in) == 0 {
		return nil
	}
	out := make([]Database, len(in))
	for i, d := range in {
		if d.Consistency == "" {
			d.Consistency = c.Consistency
		}
		if d.PoolSize == 0 {
			d.PoolSize = c.PoolSize
		}
		n := c.BlockingConns
		if d.BlockingConns != nil {
			n = *d.BlockingConns
		}
		d.BlockingConns = &n
		k := c.Cache
		if d.Cache != nil {
			k = *d.Cache
			if k.MaxBytes == 0 {
				k.MaxBytes = c.Cache.MaxBytes
			}
			if k.MaxTTL == 0 {
				k.MaxTTL = c.Cache.MaxTTL
			}
		}
		d.Cache = &k
		if len(c.Regions) > 0 {
			r := maps.Clone(c.Regions)
			maps.Copy(r, d.Regions)
			d.Regions = r
		}
		out[i] = d
	}
	return out
}

// check is Validate on a normalised configuration; listGiven says whether the databases
// list was given (not made from the single-database form).
func (c *Config) check(listGiven bool) error {
	if c.Listen == "" {
		return errors.New("listen: address required")
	}
	if c.PoolSize < 1 || c.PoolSize > 1024 {
		return fmt.Errorf("pool_size: %d not in 1..1024", c.PoolSize)
	}
	if c.Procs < 0 || c.Procs > 4096 {
		return fmt.Errorf("procs: %d not in 0..4096", c.Procs)
	}
	if c.BlockingConns < 0 || c.BlockingConns > 1024 {
		return fmt.Errorf("blocking_conns: %d not in 0..1024", c.BlockingConns)
	}
	l := c.Limits
	for _, f := range []struct {
		name string
		v    int
	}{{"limits.max_body_bytes", int(l.MaxBodyBytes)}, {"limits.max_response_bytes", int(l.MaxResponseBytes)}, {"limits.max_inflight_response_bytes", int(l.MaxInflightResponseBytes)}, {"limits.max_pipeline", l.MaxPipeline}, {"limits.max_args", l.MaxArgs}, {"limits.max_streams_per_token", l.MaxStreamsPerToken}} {
		if f.v < 1 {
			return fmt.Errorf("%s: must be positive, got %d", f.name, f.v)
		}
	}
	if l.MaxInflightResponseBytes < l.MaxResponseBytes {
		return fmt.Errorf("limits.max_inflight_response_bytes: %d is less than limits.max_response_bytes (%d)", l.MaxInflightResponseBytes, l.MaxResponseBytes)
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"limits.command_timeout", l.CommandTimeout}, {"limits.max_block", l.MaxBlock}, {"limits.read_timeout", l.ReadTimeout}, {"limits.write_timeout", l.WriteTimeout}, {"limits.idle_timeout", l.IdleTimeout}, {"limits.stream_heartbeat", l.StreamHeartbeat}} {
		if f.v <= 0 {
			return fmt.Errorf("%s: must be positive, got %s", f.name, f.v)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("tls_cert/tls_key: give both or neither")
	}
	if c.Limits.MaxHeaderBytes < 1024 {
		return fmt.Errorf("limits.max_header_bytes: at least 1024, got %d", c.Limits.MaxHeaderBytes)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"limits.max_conns_per_ip", l.MaxConnsPerIP}, {"limits.max_conns", l.MaxConns}, {"limits.memory_limit", int(l.MemoryLimit)}, {"limits.max_inflight_body", int(l.MaxInflightBody)}} {
		if f.v < 0 {
			return fmt.Errorf("%s: must not be negative, got %d", f.name, f.v)
		}
	}
	if l.HeaderTimeout <= 0 {
		return fmt.Errorf("limits.header_timeout: must be positive, got %s", l.HeaderTimeout)
	}
	if l.MaxInflightBody > 0 && l.MaxInflightBody < l.MaxBodyBytes {
		return fmt.Errorf("limits.max_inflight_body: %d is less than limits.max_body_bytes %d, so the largest bodies could never be read", l.MaxInflightBody, l.MaxBodyBytes)
	}
	if l.MemoryLimit > 0 && l.MemoryLimit < 64<<20 {
		return fmt.Errorf("limits.memory_limit: at least 64MiB or 0 (none), got %d", l.MemoryLimit)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log_level: %q is not debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("log_format: %q is not text or json", c.LogFormat)
	}
	if _, err := replicaset.ParseMode(c.Consistency); err != nil {
		return fmt.Errorf("consistency: %w", err)
	}
	if c.AckTimeout <= 0 {
		return fmt.Errorf("ack_timeout: must be positive, got %s", c.AckTimeout)
	}
	if err := checkGlobal(c); err != nil {
		return err
	}
	if c.Upstream != "" || c.Sentinels != "" || c.Cluster != "" || c.Token != "" || c.ReadOnlyToken != "" {
		if listGiven {
			return errors.New("upstream/token: give either a single upstream and token or a databases list, not both")
		}
		if c.Upstream != "" || c.Sentinels != "" || c.Cluster != "" {
			if c.Upstream != "" {
				if err := checkRedisURL("upstream (--upstream)", c.Upstream); err != nil {
					return err
				}
			}
			for j, r := range splitList(c.Replicas) {
				if err := checkRedisURL(fmt.Sprintf("replica %d (--replica)", j+1), r); err != nil {
					return err
				}
			}
			if c.Token == "" {
				return errors.New("token: required with upstream (--token, --token-file, REDISGATE_TOKEN or REDISGATE_TOKEN_FILE)")
			}
		} else if c.ReadOnlyToken != "" {
			return errors.New("read_only_token: the embedded backend takes only --token")
		}
	}
	if err := c.Cache.validate("cache"); err != nil {
		return err
	}
	if err := c.RateLimits.validate(); err != nil {
		return err
	}
	names := map[string]bool{}
	tokens := map[string]string{}
	for i := range c.Databases {
		d := &c.Databases[i]
		where := fmt.Sprintf("databases[%d]", i)
		if d.Name == "" {
			return fmt.Errorf("%s.name: required", where)
		}
		if names[d.Name] {
			return fmt.Errorf("%s.name: %q used twice", where, d.Name)
		}
		names[d.Name] = true
		switch {
		case len(d.Cluster) > 0:
			if d.Replicated() {
				return fmt.Errorf("%s.cluster: a Redis Cluster names its replicas itself; give no replicas or sentinels", where)
			}
			if d.Upstream != "" && dbNumber(d.Upstream) != 0 {
				return fmt.Errorf("%s.upstream: a Redis Cluster has database 0 only, not %d", where, dbNumber(d.Upstream))
			}
		case len(d.Sentinels) > 0:
			if d.MasterName == "" {
				return fmt.Errorf("%s.master_name: required with sentinels", where)
			}
			if len(d.Replicas) > 0 {
				return fmt.Errorf("%s.replicas: the sentinels name the replicas; give one or the other", where)
			}
		case d.Upstream == "":
			return fmt.Errorf("%s.upstream: required", where)
		}
		if d.Upstream != "" {
			if err := checkRedisURL(where+".upstream", d.Upstream); err != nil {
				return err
			}
		}
		if err := checkReplicas(where, d); err != nil {
			return err
		}
		if _, err := replicaset.ParseMode(d.Consistency); err != nil {
			return fmt.Errorf("%s.consistency: %w", where, err)
		}
		if d.PoolSize < 1 || d.PoolSize > 1024 {
			return fmt.Errorf("%s.pool_size: %d not in 1..1024", where, d.PoolSize)
		}
		if *d.BlockingConns < 0 || *d.BlockingConns > 1024 {
			return fmt.Errorf("%s.blocking_conns: %d not in 0..1024", where, *d.BlockingConns)
		}
		if err := d.Cache.validate(where + ".cache"); err != nil {
			return err
		}
		if len(d.Tokens)+len(d.ReadOnlyTokens) == 0 {
			return fmt.Errorf("%s.tokens: at least one token required", where)
		}
		for j, list := range [][]string{d.Tokens, d.ReadOnlyTokens} {
			field := []string{"tokens", "read_only_tokens"}[j]
			for k, t := range list {
				if err := checkToken(t); err != nil {
					return fmt.Errorf("%s.%s[%d]: %w", where, field, k, err)
				}
				if other, dup := tokens[t]; dup {
					return fmt.Errorf("%s.%s[%d]: token already used by %s", where, field, k, other)
				}
				tokens[t] = d.Name
			}
		}
		for t, tl := range d.TokenLimits {
			if _, ok := tokens[t]; !ok || tokens[t] != d.Name {
				return fmt.Errorf("%s.token_limits: a token that is not one of this database's tokens", where)
			}
			if tl.Daily < 0 || tl.Monthly < 0 {
				return fmt.Errorf("%s.token_limits[…]: quotas must not be negative", where)
			}
		}
	}
	if c.Token != "" && c.Embedded() {
		if err := checkToken(c.Token); err != nil {
			return fmt.Errorf("token: %w", err)
		}
	}
	if len(c.Databases) > 0 && len(c.Databases[0].Cluster) > 0 && c.Limited() && c.RateLimits.Redis == "" && len(c.RateLimits.Cluster) == 0 {
		return errors.New("rate_limits.redis or rate_limits.cluster (--limit-redis, --limit-cluster): required when the first database is a Redis Cluster: the limiter's state cannot live in a logical database of its own there, where tenants could reach it")
	}
	if err := c.limiterApart(); err != nil {
		return err
	}
	return c.validateIsolation()
}

func (r *RateLimits) validate() error {
	if r.Daily < 0 || r.Monthly < 0 {
		return errors.New("rate_limits.daily/monthly: quotas must not be negative")
	}
	if r.Redis != "" {
		if err := checkRedisURL("rate_limits.redis (--limit-redis)", r.Redis); err != nil {
			return err
		}
	}
	for i, a := range r.Cluster {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("rate_limits.cluster[%d] (--limit-cluster): %q is not host:port", i, a)
		}
	}
	if len(r.Cluster) > 0 && r.Redis != "" && dbNumber(r.Redis) != 0 {
		return fmt.Errorf("rate_limits.redis (--limit-redis): a Redis Cluster has database 0 only, not %d", dbNumber(r.Redis))
	}
	if r.Timeout <= 0 {
		return fmt.Errorf("rate_limits.timeout: must be positive, got %s", r.Timeout)
	}
	return nil
}

// Limited reports whether any rate limit or quota is configured.
func (c *Config) Limited() bool {
	r := c.RateLimits
	if !r.IP.IsZero() || !r.Token.IsZero() || r.Daily > 0 || r.Monthly > 0 {
		return true
	}
	for _, d := range c.Databases {
		if len(d.TokenLimits) > 0 {
			return true
		}
	}
	return false
}

// urlForm is the form of a Redis URL, for error messages.
const urlForm = "redis://[user:password@]host:port[/db], rediss:// for TLS, or unix:///path"

// checkRedisURL checks that raw, the value of field, is a Redis URL; its error names field,
// says what is wrong in plain words and, when it can guess, what was meant. It never shows a
// password.
func checkRedisURL(field, raw string) error {
	if err := redisURLError(raw); err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	return nil
}

// redisURLError is checkRedisURL's error without the field.
func redisURLError(raw string) error {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		// "127.0.0.1:6379", "redis//h", "redis:/h", "redis:h": the scheme is missing or mangled.
		guess, fixed := "redis", strings.TrimSpace(raw)
		for _, s := range []string{"rediss", "redis", "unix"} {
			if r, ok := strings.CutPrefix(fixed, s); ok && (strings.HasPrefix(r, ":") || strings.HasPrefix(r, "/")) {
				guess, fixed = s, strings.TrimLeft(r, ":/")
				if s == "unix" {
					fixed = "/" + fixed
				}
				break
			}
		}
		return fmt.Errorf("%q is not a Redis URL (%s): it does not start with redis://; did you mean %s?",
			redactURL(raw), urlForm, redactURL(guess+"://"+fixed))
	}
	switch strings.ToLower(scheme) {
	case "redis", "rediss", "unix":
	default:
		return fmt.Errorf("%q is not a Redis URL (%s): the scheme %s:// is not redis://, rediss:// or unix://; did you mean %s?",
			redactURL(raw), urlForm, scheme, redactURL("redis://"+rest))
	}
	if _, err := pool.ParseURL(raw); err != nil {
		return fmt.Errorf("%q is not a valid Redis URL (%s): %s", redactURL(raw), urlForm, redactURL(err.Error()))
	}
	return nil
}

// redactURL returns s with the password of the URL in it, if any, replaced by xxxxx.
func redactURL(s string) string {
	at := strings.LastIndex(s, "@")
	if at < 0 {
		return s
	}
	start := 0
	if i := strings.Index(s[:at], "//"); i >= 0 {
		start = i + 2
	}
	user, _, hasPassword := strings.Cut(s[start:at], ":")
	if !hasPassword {
		return s
	}
	return s[:start] + user + ":xxxxx" + s[at:]
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func checkToken(t string) error {
	if len(t) < MinTokenLength {
		return fmt.Errorf("token shorter than %d characters", MinTokenLength)
	}
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] >= 0x7f {
			return errors.New("token must be printable ASCII without spaces")
		}
	}
	return nil
}

// limiterApart fails when rate_limits.cluster names a node that some database is served
// from: limiter and quota state there would be within tenants' reach (a Cluster has one
// logical database, which its tenants' ACL user can read and write). It compares the
// addresses given; the gateway checks the nodes each cluster reports at start.
func (c *Config) limiterApart() error {
	if len(c.RateLimits.Cluster) == 0 {
		return nil
	}
	own := map[string]string{}
	for _, d := range c.databases() {
		for _, a := range d.Cluster {
			own[a] = d.Name
		}
		for _, u := range append([]string{d.Upstream}, d.ReplicaURLs()...) {
			if o, err := pool.ParseURL(u); err == nil && u != "" {
				own[o.Addr] = d.Name
			}
		}
	}
	for i, a := range c.RateLimits.Cluster {
		if name, ok := own[a]; ok {
			return fmt.Errorf("rate_limits.cluster[%d] (--limit-cluster): %s serves database %q: tenants could read and reset the limiter's state there; give a cluster of its own", i, a, name)
		}
	}
	return nil
}
