// Package pubsub fans Redis Pub/Sub messages and MONITOR lines out to many subscribers over few Redis connections.
//
// A Hub serves one database. All its channel and pattern subscriptions share one Redis
// connection: each channel or pattern is subscribed in Redis once, when its first subscriber
// arrives, and unsubscribed when its last one leaves. One reader goroutine hands every
// message to the bounded queue of each subscriber; a subscriber whose queue is full is
// dropped (ErrSlowConsumer) rather than slowing the others or growing memory. A lost
// connection is redialled with backoff and every channel and pattern resubscribed;
// messages published meanwhile are lost, as with any Redis subscriber. MONITOR streams
// each get a connection of their own, at most Options.MaxMonitors at a time.
package pubsub

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/resp"
)

// ErrClosed reports that the hub or the subscription was closed.
var ErrClosed = errors.New("pubsub: closed")

// ErrSlowConsumer reports a subscriber dropped because its queue was full.
var ErrSlowConsumer = errors.New("pubsub: slow consumer")

// ErrUnavailable reports that Redis did not confirm a subscription in time.
var ErrUnavailable = errors.New("pubsub: redis unavailable")

// ErrTooManyMonitors reports that Options.MaxMonitors MONITOR connections are open already.
var ErrTooManyMonitors = errors.New("pubsub: too many MONITOR connections")

// ErrLost reports that the connection of a MONITOR subscription failed.
var ErrLost = errors.New("pubsub: monitor connection lost")

// RedisError is an error reply from Redis to a subscription command, such as an ACL refusal.
type RedisError struct {
	// Msg is the reply without its leading '-'.
	Msg string
}

// Error returns Redis's message.
func (e *RedisError) Error() string { return e.Msg }

const (
	minBackoff = 25 * time.Millisecond
	maxBackoff = 500 * time.Millisecond
	// maxNamesPerCommand bounds one resubscription command after a reconnect.
	maxNamesPerCommand = 1000
)

// Options configures a Hub.
type Options struct {
	// Redis says how to reach Redis (see pool.ParseURL); only its address, TLS, credentials,
	// DialTimeout and ClientName are used. Connections are named ClientName+"-pubsub" and ClientName+"-monitor".
	Redis pool.Options
	// Buffer bounds the messages waiting for one subscriber (default 1024).
	Buffer int
	// BufferBytes bounds the bytes waiting for one subscriber (default 8 MiB); one larger
	// message is still queued when nothing else waits.
	BufferBytes int
	// MaxMonitors bounds the MONITOR connections open at once (default 8).
	MaxMonitors int
	// Timeout bounds writes to Redis and the wait for MONITOR's first reply (default 5 s).
	Timeout time.Duration
	// PingInterval is how often the subscription connection is checked with PING (default 10 s);
	// a connection silent for PingInterval+Timeout is dropped and redialled.
	PingInterval time.Duration
	// MaxReply bounds one message from Redis in bytes (default 512 MiB).
	MaxReply int
	// Logger receives connection events (default slog.Default()).
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.Buffer <= 0 {
		o.Buffer = 1024
	}
	if o.BufferBytes <= 0 {
		o.BufferBytes = 8 << 20
	}
	if o.MaxMonitors <= 0 {
		o.MaxMonitors = 8
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.PingInterval <= 0 {
		o.PingInterval = 10 * time.Second
	}
	if o.MaxReply <= 0 {
		o.MaxReply = 512 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Redis.ClientName == "" {
		o.Redis.ClientName = "redisgate"
	}
}

// topic is one channel or pattern subscribed in Redis and its subscribers.
type topic struct {
	subs map[*Subscription]struct{}
	// conf is closed once Redis has confirmed the subscription the current subscribers rely on;
	// nil when no SUBSCRIBE is outstanding or confirmed (after an error reply).
	conf *confirmation
}

// confirmation is the outcome of subscribing one channel or pattern.
type confirmation struct {
	done chan struct{}
	err  error // set before done is closed
}

func newConfirmation() *confirmation { return &confirmation{done: make(chan struct{})} }

func (c *confirmation) confirmed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// command is one command written (or about to be written) on the subscription connection
// whose replies have not all arrived.
type command struct {
	ping      bool
	kind      Kind
	subscribe bool            // SUBSCRIBE/PSUBSCRIBE; false: UNSUBSCRIBE/PUNSUBSCRIBE
	names     []string        // names whose confirmation is still expected, in order
	confs     []*confirmation // subscribe only: the confirmation of each name in names
}

// Hub shares one Redis connection among every channel and pattern subscriber of one database.
type Hub struct {
	opts   Options
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wake   chan struct{} // out has data for the writer
	wg     sync.WaitGroup
	once   sync.Once

	mu        sync.Mutex
	closed    bool
	connected bool
	topics    [2]map[string]*topic // by Channels-1 and Patterns-1
	out       []byte               // commands waiting for the writer
	sent      []*command           // commands in out or written, oldest first, whose replies are due
	monitors  map[*Subscription]struct{}
	dialing   int      // MONITOR connections being opened
	conn      net.Conn // the subscription connection, nil while down
	epoch     uint64   // advanced by Redial

	down pool.DownLog // reports Redis down and up again, not each retry
}

// NewHub returns a Hub and starts connecting to Redis in the background.
func NewHub(opts Options) *Hub {
	opts.setDefaults()
	h := &Hub{
		opts:     opts,
		wake:     make(chan struct{}, 1),
		topics:   [2]map[string]*topic{{}, {}},
		monitors: map[*Subscription]struct{}{},
	}
	h.down = pool.DownLog{Logger: opts.Logger, What: "redis (pub/sub)"}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.wg.Add(1)
	go h.run()
	return h
}

// Close ends every subscription with ErrClosed, closes the hub's connections and waits for its goroutines.
func (h *Hub) Close() error {
	h.once.Do(func() {
		h.mu.Lock()
		h.closed = true
		var subs []*Subscription
		for _, m := range h.topics {
			for _, t := range m {
				for s := range t.subs {
					subs = append(subs, s)
				}
			}
		}
		for s := range h.monitors {
			subs = append(subs, s)
		}
		for _, s := range subs {
			h.endLocked(s, ErrClosed)
		}
		h.mu.Unlock()
		h.cancel()
	})
	h.wg.Wait()
	return nil
}

// Subscribe subscribes to channels (kind Channels) or patterns (kind Patterns) and returns once
// Redis has confirmed every one of them, or fails when ctx ends first.
func (h *Hub) Subscribe(ctx context.Context, kind Kind, names ...string) (*Subscription, error) {
	if kind != Channels && kind != Patterns {
		return nil, fmt.Errorf("pubsub: cannot subscribe with kind %v", kind)
	}
	if len(names) == 0 {
		return nil, errors.New("pubsub: nothing to subscribe to")
	}
	sub := newSubscription(h, kind, dedupe(names))
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	m := h.topics[kind-1]
	waits := make([]*confirmation, 0, len(sub.names))
	var fresh []string
	var freshConfs []*confirmation
	for _, n := range sub.names {
		t := m[n]
		if t == nil {
			t = &topic{subs: map[*Subscription]struct{}{}}
			m[n] = t
		}
		t.subs[sub] = struct{}{}
		if t.conf == nil {
			t.conf = newConfirmation()
			fresh = append(fresh, n)
			freshConfs = append(freshConfs, t.conf)
		}
		waits = append(waits, t.conf)
	}
	if len(fresh) > 0 && h.connected {
		// Otherwise the next connection subscribes them.
		h.queueLocked(&command{kind: kind, subscribe: true, names: fresh, confs: freshConfs})
	}
	h.mu.Unlock()
	for _, c := range waits {
		select {
		case <-c.done:
			if c.err != nil {
				sub.Close()
				return nil, c.err
			}
		case <-sub.done:
			sub.Close()
			return nil, sub.Err()
		case <-ctx.Done():
			sub.Close()
			return nil, fmt.Errorf("%w: %s not confirmed: %w", ErrUnavailable, kind, ctx.Err())
		}
	}
	return sub, nil
}

func dedupe(names []string) []string {
	seen := make(map[string]struct{}, len(names))
	out := make([]string, 0, len(names))
	for _, n := range names {
		if _, ok := seen[n]; !ok {
			seen[n] = struct{}{}
			out = append(out, n)
		}
	}
	return out
}

// queueLocked appends c to the commands for the writer.
func (h *Hub) queueLocked(c *command) {
	var args [][]byte
	switch {
	case c.ping:
		args = [][]byte{[]byte("PING")}
	default:
		verb := "UNSUBSCRIBE"
		if c.subscribe {
			verb = "SUBSCRIBE"
		}
		if c.kind == Patterns {
			verb = "P" + verb
		}
		args = make([][]byte, 0, 1+len(c.names))
		args = append(args, []byte(verb))
		for _, n := range c.names {
			args = append(args, []byte(n))
		}
	}
	h.out = resp.AppendCommand(h.out, args)
	h.sent = append(h.sent, c)
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// endLocked ends s with err and releases its Redis resources.
func (h *Hub) endLocked(s *Subscription, err error) {
	s.finish(err)
	h.releaseLocked(s)
}

// releaseLocked removes s from its topics, unsubscribing those it was the last subscriber of,
// or closes its MONITOR connection.
func (h *Hub) releaseLocked(s *Subscription) {
	if s.released {
		return
	}
	s.released = true
	if s.kind == Monitor {
		delete(h.monitors, s)
		s.nc.Close()
		return
	}
	m := h.topics[s.kind-1]
	var gone []string
	for _, n := range s.names {
		t := m[n]
		if t == nil {
			continue
		}
		delete(t.subs, s)
		if len(t.subs) == 0 {
			delete(m, n)
			gone = append(gone, n)
		}
	}
	if len(gone) > 0 && h.connected {
		h.queueLocked(&command{kind: s.kind, names: gone})
	}
}

// Redial drops the subscription connection and every MONITOR stream, so that the hub
// connects again at the address Options.Redis.Resolve names then and resubscribes there;
// MONITOR streams end with ErrMoved.
func (h *Hub) Redial() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.epoch++
	if h.conn != nil {
		h.conn.Close()
	}
	for s := range h.monitors {
		h.endLocked(s, ErrMoved)
	}
}

// ErrMoved ends MONITOR streams of a server the hub no longer follows.
var ErrMoved = errors.New("redis moved to another server")

// adopt makes nc the subscription connection, unless Redial ran since epoch.
func (h *Hub) adopt(nc net.Conn, epoch uint64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.epoch != epoch {
		return false
	}
	h.conn = nc
	return true
}

// run keeps the subscription connection up until Close.
func (h *Hub) run() {
	defer h.wg.Done()
	o := h.opts.Redis
	o.ClientName += "-pubsub"
	backoff := minBackoff
	for {
		h.mu.Lock()
		epoch := h.epoch
		h.mu.Unlock()
		nc, err := pool.Dial(h.ctx, o)
		if err == nil && !h.adopt(nc, epoch) {
			nc.Close() // dialled where Redial has since left: dial again at once
			continue
		}
		addr := o.Address()
		if err == nil {
			start := time.Now()
			// Up only once the connection has held a second, so that one refused at once
			// (a subscription the server rejects) does not log up and down at every retry.
			up := time.AfterFunc(time.Second, func() { h.down.Up(addr) })
			err = h.serve(nc)
			up.Stop()
			if time.Since(start) > time.Second {
				backoff = minBackoff
			}
		}
		if h.ctx.Err() != nil {
			return
		}
		h.down.Failed(addr, err)
		select {
		case <-h.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// serve subscribes every channel and pattern that has subscribers on nc and runs it until it fails or the hub closes.
func (h *Hub) serve(nc net.Conn) error {
	var readErr error
	readDone := make(chan struct{})
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer close(readDone)
		readErr = h.readLoop(nc)
	}()
	h.connect()
	err := h.writeLoop(nc, readDone)
	nc.Close()
	<-readDone
	h.mu.Lock()
	h.conn = nil
	h.mu.Unlock()
	h.disconnect()
	if err == nil {
		err = readErr
	}
	return err
}

// connect marks the hub connected and queues the subscription of every topic.
func (h *Hub) connect() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.connected = true
	for i, m := range h.topics {
		var c *command
		for n, t := range m {
			if t.conf == nil {
				t.conf = newConfirmation()
			}
			if c == nil {
				c = &command{kind: Kind(i + 1), subscribe: true}
			}
			c.names = append(c.names, n)
			c.confs = append(c.confs, t.conf)
			if len(c.names) == maxNamesPerCommand {
				h.queueLocked(c)
				c = nil
			}
		}
		if c != nil {
			h.queueLocked(c)
		}
	}
}

// disconnect forgets the commands of the lost connection. Subscribers arriving from now
// on wait for the next connection to resubscribe their channel.
func (h *Hub) disconnect() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.connected = false
	h.out = h.out[:0]
	clear(h.sent)
	h.sent = h.sent[:0]
	for _, m := range h.topics {
		for _, t := range m {
			if t.conf != nil && t.conf.confirmed() {
				t.conf = newConfirmation()
			}
		}
	}
}

// writeLoop writes queued commands and a PING every PingInterval until a write fails, the
// reader stops or the hub closes.
func (h *Hub) writeLoop(nc net.Conn, readDone <-chan struct{}) error {
	ping := time.NewTicker(h.opts.PingInterval)
	defer ping.Stop()
	var buf []byte
	for {
		select {
		case <-h.ctx.Done():
			return ErrClosed
		case <-readDone:
			return nil
		case <-ping.C:
			h.mu.Lock()
			h.queueLocked(&command{ping: true})
			h.mu.Unlock()
		case <-h.wake:
		}
		h.mu.Lock()
		buf, h.out = h.out, buf[:0]
		h.mu.Unlock()
		if len(buf) == 0 {
			continue
		}
		if err := nc.SetWriteDeadline(time.Now().Add(h.opts.Timeout)); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		if _, err := nc.Write(buf); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
}

// readLoop reads replies and messages until the connection fails or stays silent too long.
func (h *Hub) readLoop(nc net.Conn) error {
	br := bufio.NewReaderSize(nc, 64<<10)
	var buf []byte
	for {
		if err := nc.SetReadDeadline(time.Now().Add(h.opts.PingInterval + h.opts.Timeout)); err != nil {
			return fmt.Errorf("read: %w", err)
		}
		var err error
		if buf, err = resp.ReadReply(br, buf[:0], h.opts.MaxReply); err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if err := h.handle(buf); err != nil {
			return err
		}
		if cap(buf) > 1<<20 {
			buf = nil // do not keep a large message's buffer
		}
	}
}

// handle acts on one raw reply from the subscription connection.
func (h *Hub) handle(raw []byte) error {
	kind, data, n, rest, err := resp.Next(raw)
	if err != nil {
		return err
	}
	switch kind {
	case resp.Simple: // +PONG, the reply to PING while nothing is subscribed
		return h.confirmPing()
	case resp.Error:
		return h.fail(string(data))
	case resp.Array:
	default:
		return fmt.Errorf("%w: unexpected %q reply on the subscription connection", resp.ErrProtocol, kind)
	}
	var parts [4][]byte
	if n < 1 || n > len(parts) {
		return fmt.Errorf("%w: push of %d elements", resp.ErrProtocol, n)
	}
	for i := range n {
		var k byte
		if k, parts[i], _, rest, err = resp.Next(rest); err != nil {
			return err
		}
		if k != resp.Bulk && k != resp.Integer {
			return fmt.Errorf("%w: unexpected %q in a push", resp.ErrProtocol, k)
		}
	}
	switch typ := string(parts[0]); {
	case typ == "message" && n == 3:
		h.deliver(Channels, parts[1], nil, parts[1], parts[2])
	case typ == "pmessage" && n == 4:
		h.deliver(Patterns, parts[1], parts[1], parts[2], parts[3])
	case typ == "pong":
		return h.confirmPing()
	case n == 3 && (typ == "subscribe" || typ == "unsubscribe"):
		return h.confirm(Channels, typ == "subscribe", parts[1])
	case n == 3 && (typ == "psubscribe" || typ == "punsubscribe"):
		return h.confirm(Patterns, typ == "psubscribe", parts[1])
	default:
		return fmt.Errorf("%w: unexpected push %q of %d elements", resp.ErrProtocol, typ, n)
	}
	return nil
}

// deliver queues one message for every subscriber of key, dropping those whose queue is full.
func (h *Hub) deliver(kind Kind, key, pattern, channel, payload []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.topics[kind-1][string(key)]
	if t == nil || len(t.subs) == 0 {
		return // unsubscribed meanwhile
	}
	m := newMessage(pattern, channel, payload)
	for s := range t.subs {
		if !s.offer(m, h.opts.Buffer, h.opts.BufferBytes) {
			h.endLocked(s, ErrSlowConsumer)
		}
	}
}

// popLocked returns the command whose replies are due, or an error when none is.
func (h *Hub) popLocked(what string) (*command, error) {
	if len(h.sent) == 0 {
		return nil, fmt.Errorf("%w: %s with no command waiting", resp.ErrProtocol, what)
	}
	return h.sent[0], nil
}

func (h *Hub) doneLocked() {
	h.sent[0] = nil
	h.sent = h.sent[1:]
}

// confirmPing matches a PONG to its PING.
func (h *Hub) confirmPing() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.popLocked("PONG")
	if err != nil {
		return err
	}
	if !c.ping {
		return fmt.Errorf("%w: PONG while a subscription reply was due", resp.ErrProtocol)
	}
	h.doneLocked()
	return nil
}

// confirm matches Redis's confirmation of one name to the command that asked for it.
func (h *Hub) confirm(kind Kind, subscribe bool, name []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.popLocked("subscription reply")
	if err != nil {
		return err
	}
	if c.ping || c.kind != kind || c.subscribe != subscribe || c.names[0] != string(name) {
		return fmt.Errorf("%w: unexpected confirmation of %s %q", resp.ErrProtocol, kind, name)
	}
	if subscribe {
		close(c.confs[0].done)
		c.confs = c.confs[1:]
	}
	c.names = c.names[1:]
	if len(c.names) == 0 {
		h.doneLocked()
	}
	return nil
}

// fail fails the command whose replies are due with Redis's error: its subscribers get the error.
func (h *Hub) fail(msg string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.popLocked("error reply " + msg)
	if err != nil {
		return err
	}
	h.doneLocked()
	h.opts.Logger.Warn("redis refused a pub/sub command", "kind", c.kind, "err", msg)
	if c.ping {
		return nil
	}
	rerr := &RedisError{Msg: msg}
	for i, conf := range c.confs {
		conf.err = rerr
		close(conf.done)
		// The next subscriber tries again.
		if t := h.topics[c.kind-1][c.names[i]]; t != nil && t.conf == conf {
			t.conf = nil
		}
	}
	return nil
}

// Monitor opens a MONITOR connection of its own whose lines the returned subscription receives.
func (h *Hub) Monitor(ctx context.Context) (*Subscription, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	if len(h.monitors)+h.dialing >= h.opts.MaxMonitors {
		h.mu.Unlock()
		return nil, fmt.Errorf("%w (limit %d)", ErrTooManyMonitors, h.opts.MaxMonitors)
	}
	h.dialing++
	h.mu.Unlock()
	nc, br, err := h.dialMonitor(ctx)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dialing--
	if err != nil {
		return nil, err
	}
	if h.closed {
		nc.Close()
		return nil, ErrClosed
	}
	s := newSubscription(h, Monitor, nil)
	s.nc = nc
	s.exited = make(chan struct{})
	h.monitors[s] = struct{}{}
	h.wg.Add(1)
	go h.monitorLoop(s, br)
	return s, nil
}

// dialMonitor opens a connection and turns it into a MONITOR connection.
func (h *Hub) dialMonitor(ctx context.Context) (net.Conn, *bufio.Reader, error) {
	o := h.opts.Redis
	o.ClientName += "-monitor"
	nc, err := pool.Dial(ctx, o)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	deadline := time.Now().Add(h.opts.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	br := bufio.NewReader(nc)
	reply, err := func() ([]byte, error) {
		if err := nc.SetDeadline(deadline); err != nil {
			return nil, err
		}
		if _, err := nc.Write(resp.AppendCommand(nil, [][]byte{[]byte("MONITOR")})); err != nil {
			return nil, err
		}
		reply, err := resp.ReadReply(br, nil, 1<<20)
		if err != nil {
			return nil, err
		}
		return reply, nc.SetDeadline(time.Time{})
	}()
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("%w: monitor: %w", ErrUnavailable, err)
	}
	if kind, data, _, _, _ := resp.Next(reply); kind != resp.Simple || string(data) != "OK" {
		nc.Close()
		return nil, nil, &RedisError{Msg: strings.TrimSpace(string(data))}
	}
	return nc, br, nil
}

// monitorLoop hands every MONITOR line to s until the connection fails or s ends.
func (h *Hub) monitorLoop(s *Subscription, br *bufio.Reader) {
	defer h.wg.Done()
	defer close(s.exited)
	var buf []byte
	db := strconv.Itoa(h.opts.Redis.DB)
	for {
		var err error
		if buf, err = resp.ReadReply(br, buf[:0], h.opts.MaxReply); err != nil {
			h.mu.Lock()
			h.endLocked(s, fmt.Errorf("%w: %w", ErrLost, err))
			h.mu.Unlock()
			return
		}
		kind, data, _, _, err := resp.Next(buf)
		if err != nil || kind != resp.Simple || !ofDB(data, db) {
			continue
		}
		if !s.offer(newMessage(nil, nil, data), h.opts.Buffer, h.opts.BufferBytes) {
			h.mu.Lock()
			h.endLocked(s, ErrSlowConsumer)
			h.mu.Unlock()
			return
		}
	}
}

// ofDB reports whether the MONITOR line ("1700000000.123456 [1 127.0.0.1:5000] \"get\" \"k\"",
// or "[1 lua]" for a script's commands) reports a command run in logical database db: a
// MONITOR connection sees the whole server, a stream only its own database.
func ofDB(line []byte, db string) bool {
	_, after, ok := bytes.Cut(line, []byte(" ["))
	if !ok {
		return false
	}
	return len(after) > len(db) && string(after[:len(db)]) == db && after[len(db)] == ' '
}
