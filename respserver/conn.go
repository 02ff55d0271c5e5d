package respserver

import (
	"bufio"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redisgate/redisgate/command"
	"github.com/redisgate/redisgate/proxy"
	"github.com/redisgate/redisgate/resp"
)

// replyMode is what CLIENT REPLY set.
type replyMode uint8

const (
	replyOn replyMode = iota + 1
	replyOff
	replySkip // the next command's reply is not sent
)

// maxAuthFailures is how many failed AUTH a connection may make before it is closed.
const maxAuthFailures = 10

// batchBytes is how many request bytes a connection reads ahead before it runs what it has.
const batchBytes = 256 << 10

// conn is one client connection and the state Redis would keep on it. Only its own
// goroutine uses it, but for draining.
type conn struct {
	s    *Server
	nc   net.Conn
	ip   netip.Addr
	id   int64
	born time.Time
	rd   *reader
	bw   *bufio.Writer

	sess      *proxy.Session // nil until authenticated
	db        *dbCounters    // metrics of the session's database
	proto     int            // 2 or 3
	name      string
	lib       [2]string // CLIENT SETINFO LIB-NAME, LIB-VER
	reply     replyMode
	authFails int

	multi      bool
	dirty      bool // a command queued in MULTI was refused: EXEC aborts
	queue      [][][]byte
	queueBytes int

	pending [][][]byte // commands to send to Redis together, in order
	werr    error      // the write that failed: the connection is done
	closing bool       // QUIT, or a fatal error reply written: close after the batch

	pinned bool // holds one of the database's pins (Server.takePin): the session watches

	// wmu guards bw (and the bufio error it keeps) against the goroutines that write
	// subscription messages (stream.go), and chans and pats, which they read.
	wmu     sync.Mutex
	chans   map[string]*group // subscribed channels, as the client names them
	pats    map[string]*group // subscribed patterns
	monitor *group            // the MONITOR stream, nil but after MONITOR
	pushers sync.WaitGroup    // the goroutines writing messages

	draining atomic.Bool

	// nextRead is the read deadline the next read from the socket gets (sockReader), and
	// readDL the one set on it: a deadline is set only when it changes and a read needs it.
	nextRead, readDL time.Time
	writeDL          time.Time // the write deadline set on the socket; guarded by wmu
}

// sockReader is what the connection's reader reads from: the socket, under the connection's
// next read deadline, or nothing once the server drains.
type sockReader struct{ c *conn }

func (r sockReader) Read(p []byte) (int, error) {
	c := r.c
	if !c.nextRead.Equal(c.readDL) {
		c.nc.SetReadDeadline(c.nextRead)
		c.readDL = c.nextRead
	}
	// After the deadline is set: drain sets the flag, then a past deadline, so one of the
	// two is seen.
	if c.draining.Load() {
		return 0, os.ErrDeadlineExceeded // what is buffered is still read
	}
	return c.nc.Read(p)
}

// setWriteDeadline sets the socket's write deadline to t unless it is set there; c.wmu is held.
func (c *conn) setWriteDeadline(t time.Time) {
	if !t.Equal(c.writeDL) {
		c.nc.SetWriteDeadline(t)
		c.writeDL = t
	}
}

// coarse returns now+d rounded up to a sixteenth of d (at most a second), so that the
// deadlines of consecutive commands are mostly equal and the socket's timer is left alone:
// a limit d is applied as between d and d+d/16.
func coarse(now time.Time, d time.Duration) time.Time {
	t := now.Add(d)
	if g := min(d/16, time.Second); g > 0 {
		t = t.Truncate(g).Add(g)
	}
	return t
}

// drain makes the connection stop reading once the commands it has are answered.
func (c *conn) drain() {
	c.draining.Store(true)
	c.nc.SetReadDeadline(time.Now())
}

// serve reads commands and answers them until the client leaves, breaks the protocol or a
// limit, or the server drains.
func (c *conn) serve() {
	defer c.endSession()
	defer c.nc.Close() // first: a goroutine writing messages stops at once
	defer func() { c.s.release(c.rd.reset()) }()
	c.reply = replyOn
	authBy := time.Now().Add(c.s.opts.AuthTimeout)
	var batch [][][]byte
	var argv [][]byte
	for !c.closing && c.werr == nil {
		now := time.Now()
		wait, pinWait := authBy, false
		switch {
		case c.sess == nil:
		case c.sess.Pinned() && (c.streaming() || c.s.opts.PinIdleTimeout < c.s.opts.IdleTimeout):
			wait, pinWait = coarse(now, c.s.opts.PinIdleTimeout), true
		case c.streaming():
			wait = time.Time{} // a subscriber waits for messages, not commands
		default:
			wait = coarse(now, c.s.opts.IdleTimeout)
		}
		c.nextRead = wait
		if c.draining.Load() {
			return
		}
		if _, err := c.rd.br.Peek(1); err != nil {
			var ne net.Error
			if pinWait && errors.As(err, &ne) && ne.Timeout() && !c.draining.Load() {
				// A client idle while it holds a pinned connection gives it up; its next
				// EXEC fails as if a watched key changed.
				c.sess.Drop()
				c.unpinned()
				continue
			}
			c.readFailed(err)
			return
		}
		// The rest of a command must arrive within ReadTimeout of its first byte: the
		// deadline applies when the reader has to wait for more (see sockReader).
		now = time.Now()
		readBy := coarse(now, c.s.opts.ReadTimeout)
		if c.sess == nil && authBy.Before(readBy) {
			readBy = authBy
		}
		c.nextRead = readBy
		batch = batch[:0]
		var fail error
		for {
			args, err := c.rd.command()
			if err != nil {
				fail = err
				break
			}
			if args != nil {
				// The reader reuses args: the batch keeps the headers in argv, reused too.
				argv = append(argv, args...)
				batch = append(batch, argv[len(argv)-len(args):len(argv):len(argv)])
			}
			// Before authentication commands are read one at a time, under the tighter limits.
			if c.sess == nil || !c.rd.buffered() || len(batch) >= c.s.opts.MaxBatch || c.rd.pending() >= batchBytes {
				break
			}
		}
		c.wmu.Lock()
		c.setWriteDeadline(coarse(now, c.s.opts.WriteTimeout))
		c.wmu.Unlock()
		if c.revoked() {
			c.write(resp.AppendError(nil, "ERR the token of this connection was revoked"))
			c.wmu.Lock()
			c.bw.Flush()
			c.wmu.Unlock()
			return
		}
		c.run(batch)
		if c.pinned && !c.sess.Pinned() {
			c.unpinned() // the pinned connection failed: its place goes back
		}
		if fail != nil && c.werr == nil && !c.closing {
			c.readFailed(fail)
			return
		}
		if c.werr == nil {
			c.wmu.Lock()
			c.werr = c.bw.Flush()
			c.wmu.Unlock()
		}
		c.s.release(c.rd.reset())
		clear(batch)
		clear(argv)
		argv = argv[:0]
	}
}

// revoked reports whether a reload removed the connection's token or changed what it opens.
func (c *conn) revoked() bool {
	if c.sess == nil {
		return false
	}
	select {
	case <-c.sess.Revoked():
		return true
	default:
		return false
	}
}

// readFailed answers a request that could not be read, when it deserves an answer.
func (c *conn) readFailed(err error) {
	var pe *ProtocolError
	var ne net.Error
	switch {
	case errors.As(err, &pe):
		c.s.obs.protocolError()
		c.s.opts.Logger.Debug("resp client broke the protocol", "client", c.ip.String(), "err", err)
		c.write(resp.AppendError(nil, "ERR "+pe.Error()))
	case errors.Is(err, errBudget):
		c.s.opts.Logger.Warn("resp request bytes in flight at their limit: a command was refused", "client", c.ip.String(), "max_inflight", c.s.opts.MaxInflight)
		c.write(resp.AppendError(nil, err.Error()))
	case errors.As(err, &ne) && ne.Timeout() && c.sess == nil && !c.draining.Load():
		c.write(resp.AppendError(nil, "ERR authentication timeout"))
	}
	// Otherwise the client left, was idle too long, or the server drains: the replies of
	// the commands read before still go out.
	c.wmu.Lock()
	c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	c.bw.Flush()
	c.wmu.Unlock()
}

// run answers the commands of one batch in order.
func (c *conn) run(batch [][][]byte) {
	for _, args := range batch {
		if c.closing || c.werr != nil {
			break
		}
		c.command(args)
	}
	c.flush()
}

// write sends raw as the reply of one command, unless CLIENT REPLY holds it back.
func (c *conn) write(raw []byte) {
	switch c.reply {
	case replyOff:
		return
	case replySkip:
		c.reply = replyOn
		return
	}
	if c.werr != nil {
		return
	}
	c.wmu.Lock()
	_, c.werr = c.bw.Write(raw)
	c.wmu.Unlock()
}

// emit is the callback of proxy.Session: it writes one reply from Redis.
func (c *conn) emit(raw []byte) error {
	c.db.count(raw)
	c.write(raw)
	return c.werr
}

// local writes a reply the gateway gives itself.
func (c *conn) local(raw []byte) {
	if c.db != nil {
		c.db.count(raw)
	}
	c.write(raw)
}

func (c *conn) errorReply(msg string) { c.local(resp.AppendError(nil, msg)) }

// flush sends the pending commands to Redis as one batch and writes their replies.
func (c *conn) flush() {
	if len(c.pending) == 0 {
		return
	}
	start := time.Now()
	if err := c.sess.Do(c.pending, c.emit); err != nil && c.werr == nil {
		c.werr = err
	}
	c.s.obs.batch(time.Since(start))
	clear(c.pending)
	c.pending = c.pending[:0]
}

// name32 upper-cases a command or subcommand name into a fixed buffer; longer names come
// back empty, which matches no local command.
func name32(b []byte) string {
	var buf [32]byte
	if len(b) > len(buf) {
		return ""
	}
	for i, ch := range b {
		if 'a' <= ch && ch <= 'z' {
			ch -= 'a' - 'A'
		}
		buf[i] = ch
	}
	return string(buf[:len(b)])
}

// command answers one command, locally or by queuing it for Redis.
func (c *conn) command(args [][]byte) {
	name := name32(args[0])
	if c.sess == nil {
		switch name {
		case "AUTH", "HELLO", "PING", "QUIT", "RESET":
		default:
			c.errorReply("NOAUTH Authentication required.")
			return
		}
	}
	if c.sess != nil {
		if msg := c.subscriberOnly(name); msg != "" {
			c.errorReply(msg)
			return
		}
	}
	if c.multi {
		c.inMulti(name, args)
		return
	}
	switch name {
	case "PING", "ECHO", "SELECT", "CLIENT", "HELLO", "AUTH", "QUIT", "RESET", "MULTI", "EXEC", "DISCARD",
		"WATCH", "UNWATCH", "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE", "MONITOR":
		c.flush()
		c.connCommand(name, args)
	default:
		if command.Lookup(args).Kind == command.Blocking {
			// Alone in its batch, so that the commands around it stay on the shared connections.
			c.flush()
			c.pending = append(c.pending, args)
			c.flush()
			return
		}
		c.pending = append(c.pending, args)
	}
}

// connCommand answers a command about the connection itself.
func (c *conn) connCommand(name string, args [][]byte) {
	switch name {
	case "PING":
		if c.proto == 2 && c.sess != nil && c.subCount() > 0 {
			// Redis's answer in RESP2 subscriber mode: ["pong", argument or ""].
			arg := []byte{}
			if len(args) > 1 {
				arg = args[1]
			}
			c.local(resp.AppendBulk(bulkStr([]byte("*2\r\n"), "pong"), arg))
			return
		}
		switch len(args) {
		case 1:
			c.local([]byte("+PONG\r\n"))
		case 2:
			c.local(resp.AppendBulk(nil, args[1]))
		default:
			c.errorReply("ERR wrong number of arguments for 'ping' command")
		}
	case "ECHO":
		if len(args) != 2 {
			c.errorReply("ERR wrong number of arguments for 'echo' command")
			return
		}
		c.local(resp.AppendBulk(nil, args[1]))
	case "QUIT":
		c.local([]byte("+OK\r\n"))
		c.closing = true
	case "RESET":
		c.reset()
		c.local([]byte("+RESET\r\n"))
	case "AUTH":
		switch len(args) {
		case 2:
			c.authenticate(args[1])
		case 3:
			c.authenticate(args[2])
		default:
			c.errorReply("ERR wrong number of arguments for 'auth' command")
			return
		}
		if c.sess != nil {
			c.local([]byte("+OK\r\n"))
		}
	case "HELLO":
		c.hello(args)
	case "SELECT":
		if len(args) != 2 {
			c.errorReply("ERR wrong number of arguments for 'select' command")
			return
		}
		n, ok := parseInt(args[1])
		switch {
		case !ok:
			c.errorReply("ERR value is not an integer or out of range")
		case int(n) != c.sess.LogicalDB():
			c.errorReply("ERR DB index is out of range: this token opens logical database " + strconv.Itoa(c.sess.LogicalDB()) + " only")
		default:
			c.local([]byte("+OK\r\n"))
		}
	case "CLIENT":
		c.client(args)
	case "MULTI":
		c.multi, c.dirty, c.queueBytes = true, false, 0
		c.local([]byte("+OK\r\n"))
	case "EXEC":
		c.errorReply("ERR EXEC without MULTI")
	case "DISCARD":
		c.errorReply("ERR DISCARD without MULTI")
	case "UNWATCH":
		c.unpin()
		c.local([]byte("+OK\r\n"))
	case "WATCH":
		c.watch(args)
	case "SUBSCRIBE", "PSUBSCRIBE":
		c.subscribe(name == "PSUBSCRIBE", args)
	case "UNSUBSCRIBE", "PUNSUBSCRIBE":
		c.unsubscribe(name == "PUNSUBSCRIBE", args)
	case "MONITOR":
		c.monitorCmd()
	default: // the sharded subscriber commands
		c.errorReply("ERR command '" + name + "' is not supported by redisgate's Redis-protocol listener: use SUBSCRIBE and UNSUBSCRIBE")
	}
}

// inMulti answers a command sent between MULTI and EXEC: most are queued.
func (c *conn) inMulti(name string, args [][]byte) {
	switch name {
	case "EXEC":
		queue := c.queue
		dirty := c.dirty
		c.endMulti()
		switch {
		case dirty:
			c.errorReply("EXECABORT Transaction discarded because of previous errors.")
		case len(queue) == 0 && !c.sess.Watching():
			c.local([]byte("*0\r\n"))
		default:
			// Watching, even an empty transaction runs on the pinned connection: it fails
			// when a watched key changed.
			start := time.Now()
			if err := c.sess.Transaction(queue, c.emit); err != nil && c.werr == nil {
				c.werr = err
			}
			c.s.obs.batch(time.Since(start))
		}
		c.unpin() // EXEC unwatches, whatever its outcome
		return
	case "DISCARD":
		c.endMulti()
		c.unpin()
		c.local([]byte("+OK\r\n"))
		return
	case "MULTI":
		c.errorReply("ERR MULTI calls can not be nested")
		return
	case "WATCH":
		c.errorReply("ERR WATCH inside MULTI is not allowed")
		return
	case "QUIT", "RESET":
		c.connCommand(name, args)
		return
	}
	size := 0
	for _, a := range args {
		size += len(a) + argCost
	}
	switch {
	case len(c.queue) >= c.s.opts.MaxQueued:
		c.dirty = true
		c.errorReply("ERR more than " + strconv.Itoa(c.s.opts.MaxQueued) + " commands in one transaction")
		return
	case c.queueBytes+size > c.s.opts.MaxCommandBytes:
		c.dirty = true
		c.errorReply("ERR transaction larger than " + strconv.Itoa(c.s.opts.MaxCommandBytes) + " bytes")
		return
	}
	if err := c.sess.CheckQueued(args); err != nil {
		c.dirty = true
		c.errorReply(err.Error())
		return
	}
	// The arguments point into the reader's buffer, reused by the next batch: keep a copy.
	buf := make([]byte, 0, size)
	cp := make([][]byte, len(args))
	for i, a := range args {
		buf = append(buf, a...)
		cp[i] = buf[len(buf)-len(a) : len(buf) : len(buf)]
	}
	c.queue = append(c.queue, cp)
	c.queueBytes += size
	c.local([]byte("+QUEUED\r\n"))
}

func (c *conn) endMulti() {
	c.multi, c.dirty, c.queue, c.queueBytes = false, false, nil, 0
}

// reset returns the connection to its state at connect, unauthenticated (RESET).
func (c *conn) reset() {
	c.endSession()
	c.endMulti()
	c.sess, c.db, c.proto, c.name, c.lib, c.reply = nil, nil, 2, "", [2]string{}, replyOn
	c.rd.lim = c.limits(false)
}

// authenticate opens the session of token; on failure it writes the error reply.
func (c *conn) authenticate(token []byte) bool {
	sess, err := c.s.gw.OpenSession(token, c.ip)
	if err != nil {
		c.errorReply(err.Error())
		if errors.Is(err, proxy.ErrWrongPass) {
			c.s.obs.authFailed()
			if c.authFails++; c.authFails >= maxAuthFailures {
				c.closing = true
			}
		}
		return false
	}
	c.endSession() // the state of a former token's session goes with it
	c.sess, c.db = sess, c.s.obs.database(sess.Database())
	c.rd.lim = c.limits(true)
	return true
}

// hello answers HELLO [protover [AUTH user token] [SETNAME name]].
func (c *conn) hello(args [][]byte) {
	proto := c.proto
	if len(args) >= 2 {
		v, ok := parseInt(args[1])
		if !ok {
			c.errorReply("ERR Protocol version is not an integer or out of range")
			return
		}
		if v != 2 && v != 3 {
			c.errorReply("NOPROTO unsupported protocol version")
			return
		}
		proto = int(v)
	}
	var token []byte
	name, setName := "", false
	for i := 2; i < len(args); i++ {
		switch opt := name32(args[i]); {
		case opt == "AUTH" && i+2 < len(args):
			token = args[i+2]
			i += 2
		case opt == "SETNAME" && i+1 < len(args):
			name, setName = string(args[i+1]), true
			if !validName(name) {
				c.errorReply("ERR Client names cannot contain spaces, newlines or special characters.")
				return
			}
			i++
		default:
			c.errorReply("ERR Syntax error in HELLO option '" + string(args[i]) + "'")
			return
		}
	}
	if token != nil && !c.authenticate(token) {
		return
	}
	if c.sess == nil {
		c.errorReply("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
		return
	}
	c.wmu.Lock() // the goroutines writing subscription messages read it
	c.proto = proto
	c.wmu.Unlock()
	if setName {
		c.name = name
	}
	var out []byte
	if proto == 3 {
		out = append(out, "%7\r\n"...)
	} else {
		out = append(out, "*14\r\n"...)
	}
	out = bulkStr(out, "server")
	out = bulkStr(out, "redis")
	out = bulkStr(out, "version")
	out = bulkStr(out, "7.0.0")
	out = bulkStr(out, "proto")
	out = append(append(append(out, ':'), strconv.Itoa(proto)...), "\r\n"...)
	out = bulkStr(out, "id")
	out = append(append(append(out, ':'), strconv.FormatInt(c.id, 10)...), "\r\n"...)
	out = bulkStr(out, "mode")
	out = bulkStr(out, "standalone")
	out = bulkStr(out, "role")
	out = bulkStr(out, "master")
	out = bulkStr(out, "modules")
	out = append(out, "*0\r\n"...)
	c.local(out)
}

func bulkStr(dst []byte, s string) []byte {
	dst = append(dst, '$')
	dst = strconv.AppendInt(dst, int64(len(s)), 10)
	dst = append(dst, "\r\n"...)
	dst = append(dst, s...)
	return append(dst, "\r\n"...)
}

// validName reports whether a client name has no spaces, newlines or special characters.
func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '!' || s[i] > '~' {
			return false
		}
	}
	return true
}

// null is the null reply of the connection's protocol.
func (c *conn) null() []byte {
	if c.proto == 3 {
		return []byte("_\r\n")
	}
	return []byte("$-1\r\n")
}

// client answers the CLIENT subcommands kept in the gateway; the others are refused.
func (c *conn) client(args [][]byte) {
	if len(args) < 2 {
		c.errorReply("ERR wrong number of arguments for 'client' command")
		return
	}
	sub := name32(args[1])
	switch {
	case sub == "ID" && len(args) == 2:
		c.local(append(strconv.AppendInt([]byte(":"), c.id, 10), "\r\n"...))
	case sub == "GETNAME" && len(args) == 2:
		if c.name == "" {
			c.local(c.null())
			return
		}
		c.local(bulkStr(nil, c.name))
	case sub == "SETNAME" && len(args) == 3:
		if !validName(string(args[2])) {
			c.errorReply("ERR Client names cannot contain spaces, newlines or special characters.")
			return
		}
		c.name = string(args[2])
		c.local([]byte("+OK\r\n"))
	case (sub == "INFO" && len(args) == 2) || sub == "LIST":
		c.local(bulkStr(nil, c.info()))
	case sub == "SETINFO" && len(args) == 4:
		v := string(args[3])
		switch name32(args[2]) {
		case "LIB-NAME":
			c.lib[0] = v
		case "LIB-VER":
			c.lib[1] = v
		default:
			c.errorReply("ERR Unrecognized option '" + string(args[2]) + "'")
			return
		}
		if !validName(v) {
			c.errorReply("ERR lib-name and lib-ver cannot contain spaces, newlines or special characters.")
			return
		}
		c.local([]byte("+OK\r\n"))
	case sub == "REPLY" && len(args) == 3:
		switch name32(args[2]) {
		case "ON":
			c.reply = replyOn
			c.local([]byte("+OK\r\n"))
		case "OFF":
			c.reply = replyOff
		case "SKIP":
			if c.reply != replyOff {
				c.reply = replySkip
			}
		default:
			c.errorReply("ERR syntax error")
		}
	default:
		c.errorReply("ERR command 'CLIENT " + string(sub) + "' is not supported by redisgate: the connections to Redis are shared by many clients")
	}
}

// info is the connection's line of CLIENT INFO and CLIENT LIST.
func (c *conn) info() string {
	db := 0
	if c.sess != nil {
		db = c.sess.LogicalDB()
	}
	multi := -1
	if c.multi {
		multi = len(c.queue)
	}
	return "id=" + strconv.FormatInt(c.id, 10) + " addr=" + c.nc.RemoteAddr().String() + " laddr=" + c.nc.LocalAddr().String() +
		" name=" + c.name + " age=" + strconv.Itoa(int(time.Since(c.born).Seconds())) + " db=" + strconv.Itoa(db) +
		" multi=" + strconv.Itoa(multi) + " resp=" + strconv.Itoa(c.proto) + " lib-name=" + c.lib[0] + " lib-ver=" + c.lib[1] + "\n"
}

// watch answers WATCH: the first one pins a connection (one of the database's bounded pins).
func (c *conn) watch(args [][]byte) {
	if !c.sess.Watching() {
		if !c.s.takePin(c.sess.Database()) {
			c.errorReply(proxy.ErrTooManyPins.Error())
			return
		}
		c.pinned = true
	}
	if err := c.sess.Watch(args, c.emit); err != nil && c.werr == nil {
		c.werr = err
	}
	if !c.sess.Pinned() {
		c.unpinned() // the pin failed, or the connection is no longer held
	}
}

// unpin ends watching and gives the pinned connection back.
func (c *conn) unpin() {
	if c.sess != nil && c.sess.Watching() {
		c.sess.Unpin()
	}
	c.unpinned()
}

// unpinned gives back the connection's place among the database's pins.
func (c *conn) unpinned() {
	if c.pinned {
		c.pinned = false
		c.s.givePin(c.sess.Database())
	}
}

// endSession ends what the session holds: its pinned connection, its subscriptions.
func (c *conn) endSession() {
	if c.sess == nil {
		return
	}
	c.unpin()
	c.endStreams()
}
