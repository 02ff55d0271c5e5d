// Package rest is a client of the Upstash Redis REST API, as redisgate and Upstash serve it,
// tuned for AWS Lambda: one Client per container, keep-alive connections reused across
// invocations, a deadline on every attempt, and retries only where a retry cannot run a
// command twice.
package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Options configures a Client.
type Options struct {
	// URL is the gateway's base URL, e.g. https://redisgate.example.com or an Upstash REST URL.
	URL string
	// Token is the bearer token of the database.
	Token string
	// Timeout bounds one attempt of one request (default 5 s); the caller's context may end it sooner.
	// Blocking commands need a Timeout longer than the time they block.
	Timeout time.Duration
	// Retries is how many more attempts a request may make when retrying is safe (default 2; -1 for none).
	Retries int
	// Backoff is the wait before the first retry, doubled before each next one, with jitter (default 20 ms).
	Backoff time.Duration
	// HTTPClient sends the requests (default: a client over NewTransport()).
	HTTPClient *http.Client
	// Logger receives retries (default slog.Default()).
	Logger *slog.Logger
}

// Client sends commands to one database over the REST API. It is safe for concurrent use;
// create it once per process (in a Lambda function's init) so its connections are reused.
type Client struct {
	base   string // URL without a trailing slash
	auth   string // "Bearer <token>"
	opts   Options
	http   *http.Client
	syncTo atomic.Pointer[string] // the latest Upstash-Sync-Token answered, sent back for read-your-writes
}

// Env names read by FromEnv: redisgate's first, then Upstash's.
const (
	EnvURL          = "REDISGATE_URL"
	EnvToken        = "REDISGATE_TOKEN"
	EnvUpstashURL   = "UPSTASH_REDIS_REST_URL"
	EnvUpstashToken = "UPSTASH_REDIS_REST_TOKEN"
)

// ErrConfig reports a Client that cannot be built from its options.
var ErrConfig = errors.New("rest: bad configuration")

// OptionsFromEnv reads URL and Token from REDISGATE_URL and REDISGATE_TOKEN, or else from
// UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN, through getenv (os.Getenv in production).
func OptionsFromEnv(getenv func(string) string) (Options, error) {
	o := Options{URL: getenv(EnvURL), Token: getenv(EnvToken)}
	if o.URL == "" && o.Token == "" {
		o.URL, o.Token = getenv(EnvUpstashURL), getenv(EnvUpstashToken)
	}
	if o.URL == "" || o.Token == "" {
		return Options{}, fmt.Errorf("%w: set %s and %s (or %s and %s)", ErrConfig, EnvURL, EnvToken, EnvUpstashURL, EnvUpstashToken)
	}
	return o, nil
}

// FromEnv returns a Client configured by OptionsFromEnv(os.Getenv).
func FromEnv() (*Client, error) {
	o, err := OptionsFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	return New(o)
}

// NewTransport returns the HTTP transport a Client uses by default: keep-alive connections,
// up to 64 idle ones kept for 45 s (less than redisgate's 2 min idle timeout and a load
// balancer's usual 60 s, so a container thawed after a long freeze dials anew rather than
// writing to a connection the other side has closed), a 2 s dial timeout and HTTP/2 over TLS.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       45 * time.Second,
		TLSHandshakeTimeout:   3 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// New returns a Client for opts. It does not connect: the first request dials.
func New(opts Options) (*Client, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: URL %q: want http(s)://host[:port]", ErrConfig, opts.URL)
	}
	if opts.Token == "" {
		return nil, fmt.Errorf("%w: no token", ErrConfig)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Retries == 0 {
		opts.Retries = 2
	}
	opts.Retries = max(opts.Retries, 0)
	if opts.Backoff <= 0 {
		opts.Backoff = 20 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: NewTransport()}
	}
	return &Client{base: strings.TrimRight(opts.URL, "/"), auth: "Bearer " + opts.Token, opts: opts, http: hc}, nil
}

// Close closes the Client's idle connections; requests still running finish.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Do runs one command and returns its reply: nil, int64, string (binary-safe), or []any of these.
// A Redis error is an *Error with Status 400.
func (c *Client) Do(ctx context.Context, args ...any) (any, error) {
	cmd, err := encodeArgs(args)
	if err != nil {
		return nil, err
	}
	req := request{name: cmd.name(), idempotent: readOnly(cmd)}
	if cmd.utf8() {
		req.path, req.body = "/", cmd.appendJSON(nil)
	} else {
		req.path, req.body = cmd.pathForm()
		req.raw = true
	}
	body, err := c.send(ctx, req)
	if err != nil {
		return nil, err
	}
	return decodeEntry(body)
}

// Cmd is one command of a pipeline or transaction: its name and arguments.
type Cmd []any

// Result is the answer to one command of a pipeline or transaction: a reply or an *Error.
type Result struct {
	Value any
	Err   error
}

// Pipeline sends cmds in one request; Redis runs them in order, not atomically. The error is
// for the request as a whole; each command's own error is in its Result. Arguments must be
// valid UTF-8 (JSON strings); send binary arguments with Do.
func (c *Client) Pipeline(ctx context.Context, cmds ...Cmd) ([]Result, error) {
	return c.batch(ctx, "/pipeline", "pipeline", cmds)
}

// MultiExec runs cmds as one MULTI … EXEC transaction. A transaction Redis discards whole
// (EXECABORT, a refused command) is an *Error with Status 400; otherwise as Pipeline.
func (c *Client) MultiExec(ctx context.Context, cmds ...Cmd) ([]Result, error) {
	return c.batch(ctx, "/multi-exec", "multi-exec", cmds)
}

func (c *Client) batch(ctx context.Context, path, what string, cmds []Cmd) ([]Result, error) {
	if len(cmds) == 0 {
		return nil, nil
	}
	body := []byte{'['}
	idempotent := true
	for i, args := range cmds {
		cmd, err := encodeArgs(args)
		if err != nil {
			return nil, fmt.Errorf("%s command %d: %w", what, i, err)
		}
		if !cmd.utf8() {
			return nil, fmt.Errorf("%s command %d (%s): %w", what, i, cmd.name(), ErrBinaryArg)
		}
		idempotent = idempotent && readOnly(cmd)
		if i > 0 {
			body = append(body, ',')
		}
		body = cmd.appendJSON(body)
	}
	body = append(body, ']')
	raw, err := c.send(ctx, request{name: what, path: path, body: body, idempotent: idempotent})
	if err != nil {
		return nil, err
	}
	return decodeBatch(raw, len(cmds))
}

// request is one HTTP request to the gateway.
type request struct {
	name       string // command name or "pipeline", for errors and logs
	path       string // escaped path, starting with '/'
	body       []byte
	raw        bool // body is the last argument as bytes, not JSON
	idempotent bool // only reads: safe to retry whatever happened
}

// send runs req, retrying where safe, and returns the body of a 2xx answer.
func (c *Client) send(ctx context.Context, req request) ([]byte, error) {
	wait := c.opts.Backoff
	for attempt := 0; ; attempt++ {
		body, o, err := c.attempt(ctx, req)
		if err == nil {
			return body, nil
		}
		retry := o == notSent || (o == unknown && req.idempotent)
		if !retry || attempt >= c.opts.Retries || ctx.Err() != nil {
			return nil, err
		}
		sleep := wait/2 + rand.N(wait) // jitter, so containers thawed together do not retry in step
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < sleep {
			return nil, err
		}
		c.opts.Logger.Debug("redisgate: retrying", "command", req.name, "attempt", attempt+1, "err", err)
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		wait *= 2
	}
}

// outcome says what a failed attempt did to Redis.
type outcome int

const (
	// answered: the gateway gave a definite answer (a 4xx); another attempt would get the same.
	answered outcome = iota + 1
	// notSent: the command cannot have run (connection refused, or 503: never sent to Redis); a retry is safe.
	notSent
	// unknown: the command may have run (502, 504, timeout or connection lost after sending); only reads are retried.
	unknown
)

// attempt sends req once.
func (c *Client) attempt(ctx context.Context, req request) ([]byte, outcome, error) {
	actx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(actx, http.MethodPost, c.base+req.path, bytes.NewReader(req.body))
	if err != nil {
		return nil, answered, fmt.Errorf("redisgate %s: %w", req.name, err)
	}
	hr.Header.Set("Authorization", c.auth)
	if req.raw {
		hr.Header.Set("Content-Type", "application/octet-stream")
	} else {
		hr.Header.Set("Content-Type", "application/json")
	}
	hr.Header.Set("Upstash-Encoding", "base64")
	if st := c.syncTo.Load(); st != nil {
		hr.Header.Set("Upstash-Sync-Token", *st)
	}
	res, err := c.http.Do(hr)
	if err != nil {
		o := unknown
		if refused(err) {
			o = notSent
		}
		return nil, o, fmt.Errorf("redisgate %s: %w", req.name, c.timedOut(ctx, actx, err))
	}
	// Reading the body to its end lets the transport reuse the connection.
	body, err := io.ReadAll(io.LimitReader(res.Body, maxBody))
	res.Body.Close()
	if err != nil {
		return nil, unknown, fmt.Errorf("redisgate %s: read answer: %w", req.name, c.timedOut(ctx, actx, err))
	}
	if st := res.Header.Get("Upstash-Sync-Token"); st != "" {
		c.syncTo.Store(&st)
	}
	switch {
	case res.StatusCode/100 == 2:
		return body, answered, nil
	case res.StatusCode == http.StatusServiceUnavailable:
		return nil, notSent, fmt.Errorf("redisgate %s: %w", req.name, httpError(res, body))
	case res.StatusCode >= 500:
		return nil, unknown, fmt.Errorf("redisgate %s: %w", req.name, httpError(res, body))
	}
	return nil, answered, fmt.Errorf("redisgate %s: %w", req.name, httpError(res, body))
}

// timedOut names err as ErrAttemptTimeout when the attempt's own deadline, not the caller's, ended it.
func (c *Client) timedOut(ctx, actx context.Context, err error) error {
	if ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w after %v: %w", ErrAttemptTimeout, c.opts.Timeout, err)
	}
	return err
}

// maxBody bounds an answer read into memory.
const maxBody = 512 << 20

// ErrAttemptTimeout reports an attempt that did not get its answer within Options.Timeout.
var ErrAttemptTimeout = errors.New("no answer in time")

// refused reports whether err shows that the request never reached the gateway: the
// connection could not be made.
func refused(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// httpError builds the *Error of a non-2xx answer, taking the gateway's {"error":…} message.
func httpError(res *http.Response, body []byte) *Error {
	e := &Error{Status: res.StatusCode}
	var msg struct {
		Error *string `json:"error"`
	}
	if json.Unmarshal(body, &msg) == nil && msg.Error != nil {
		e.Message = *msg.Error
	} else {
		e.Message = strings.TrimSpace(string(body[:min(len(body), 200)]))
		if e.Message == "" {
			e.Message = http.StatusText(res.StatusCode)
		}
	}
	if s := res.Header.Get("Retry-After"); s != "" {
		var secs int64
		if _, err := fmt.Sscan(s, &secs); err == nil && secs >= 0 {
			e.RetryAfter = time.Duration(secs) * time.Second
		}
	}
	return e
}
