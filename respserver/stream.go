package respserver

import (
	"errors"
	"strconv"
	"time"

	"github.com/redisgate/redisgate/proxy"
	"github.com/redisgate/redisgate/pubsub"
	"github.com/redisgate/redisgate/resp"
)

// This file is the subscriber side of a connection: SUBSCRIBE, PSUBSCRIBE, their UNSUBSCRIBE
// and MONITOR, served from the database's pub/sub hub through proxy.Stream (the HTTP
// streams' namespacing, filtering and bounds). Each SUBSCRIBE or PSUBSCRIBE of names the
// connection did not have opens one hub subscription (a group), whose messages a goroutine
// of its own (push) writes to the client between the replies of the connection's commands,
// under wmu. A name unsubscribed stays in its group's hub subscription until the group's
// last name goes, but its messages are no longer written.

// group is one hub subscription of a connection and the goroutine that writes its messages.
type group struct {
	st      *proxy.Stream
	kind    pubsub.Kind
	live    int           // names of the group still subscribed; guarded by conn.wmu
	stop    chan struct{} // closed to stop push
	stopped bool          // stop closed; main goroutine only
}

// streaming reports whether the connection is subscribed or monitoring: it may then wait for
// commands without an idle timeout, and in RESP2 takes only the subscriber commands.
func (c *conn) streaming() bool {
	return len(c.chans)+len(c.pats) > 0 || c.monitor != nil
}

// subCount is the number of channels and patterns the connection is subscribed to.
func (c *conn) subCount() int { return len(c.chans) + len(c.pats) }

// subscriberOnly reports whether name may not run now: RESP2 subscriber mode takes only the
// subscriber commands, PING, QUIT and RESET; a MONITOR connection only QUIT and RESET.
func (c *conn) subscriberOnly(name string) string {
	if c.monitor != nil {
		switch name {
		case "QUIT", "RESET":
			return ""
		}
		return "ERR only QUIT and RESET are allowed on a MONITOR connection"
	}
	if c.proto != 2 || c.subCount() == 0 {
		return ""
	}
	switch name {
	case "SUBSCRIBE", "PSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "PING", "QUIT", "RESET":
		return ""
	}
	return "ERR Can't execute '" + lower(name) + "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
}

func lower(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if 'A' <= ch && ch <= 'Z' {
			b[i] = ch + 'a' - 'A'
		}
	}
	return string(b)
}

// pushHeader starts a message of n elements: a push in RESP3, an array in RESP2.
func (c *conn) pushHeader(dst []byte, n int) []byte {
	if c.proto == 3 {
		dst = append(dst, '>')
	} else {
		dst = append(dst, '*')
	}
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, "\r\n"...)
}

// confirm appends Redis's reply to one name of a (P)(UN)SUBSCRIBE: [kind, name, count].
func (c *conn) confirm(dst []byte, kind string, name []byte, count int) []byte {
	dst = c.pushHeader(dst, 3)
	dst = bulkStr(dst, kind)
	if name == nil {
		dst = append(dst, c.null()...)
	} else {
		dst = resp.AppendBulk(dst, name)
	}
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, int64(count), 10)
	return append(dst, "\r\n"...)
}

// subscribe answers SUBSCRIBE and PSUBSCRIBE.
func (c *conn) subscribe(pattern bool, args [][]byte) {
	if c.chans == nil {
		c.wmu.Lock()
		c.chans, c.pats = map[string]*group{}, map[string]*group{}
		c.wmu.Unlock()
	}
	verb, set := "subscribe", c.chans
	if pattern {
		verb, set = "psubscribe", c.pats
	}
	if len(args) < 2 {
		c.errorReply("ERR wrong number of arguments for '" + verb + "' command")
		return
	}
	var fresh [][]byte
	seen := map[string]bool{}
	for _, n := range args[1:] {
		if set[string(n)] == nil && !seen[string(n)] {
			seen[string(n)] = true
			fresh = append(fresh, n)
		}
	}
	count := c.subCount()
	var g *group
	if len(fresh) > 0 {
		st, err := c.sess.Subscribe(pattern, fresh)
		if err != nil {
			c.errorReply(err.Error())
			return
		}
		kind := pubsub.Channels
		if pattern {
			kind = pubsub.Patterns
		}
		g = &group{st: st, kind: kind, live: len(fresh), stop: make(chan struct{})}
		c.s.streams.Add(1)
		c.wmu.Lock()
		for _, n := range fresh {
			set[string(n)] = g
		}
		c.wmu.Unlock()
	}
	// Each name's confirmation counts the subscriptions up to it, as Redis does.
	var out []byte
	for _, n := range args[1:] {
		if seen[string(n)] {
			delete(seen, string(n))
			count++
		}
		out = c.confirm(out, verb, n, count)
	}
	c.local(out)
	if g != nil {
		// Started once the confirmations are buffered, so that no message comes before them.
		c.pushers.Add(1)
		go c.push(g)
	}
}

// unsubscribe answers UNSUBSCRIBE and PUNSUBSCRIBE: of the names given, or of all.
func (c *conn) unsubscribe(pattern bool, args [][]byte) {
	verb, set := "unsubscribe", c.chans
	if pattern {
		verb, set = "punsubscribe", c.pats
	}
	names := args[1:]
	if len(names) == 0 {
		for n := range set {
			names = append(names, []byte(n))
		}
	}
	var out []byte
	if len(names) == 0 {
		out = c.confirm(out, verb, nil, c.subCount())
	}
	for _, n := range names {
		c.drop(set, string(n))
		out = c.confirm(out, verb, n, c.subCount())
	}
	c.local(out)
}

// drop removes name from set, and ends its group when it was the group's last name.
func (c *conn) drop(set map[string]*group, name string) {
	c.wmu.Lock()
	g := set[name]
	if g == nil {
		c.wmu.Unlock()
		return
	}
	delete(set, name)
	g.live--
	last := g.live == 0
	c.wmu.Unlock()
	if last {
		c.end(g)
	}
}

// end stops g's goroutine and closes its subscription.
func (c *conn) end(g *group) {
	if !g.stopped {
		g.stopped = true
		close(g.stop)
		c.s.streams.Add(-1)
	}
	g.st.Close()
}

// endStreams ends every subscription and the MONITOR stream, and waits for their goroutines.
func (c *conn) endStreams() {
	for _, set := range []map[string]*group{c.chans, c.pats} {
		for n := range set {
			c.drop(set, n)
		}
	}
	if c.monitor != nil {
		c.end(c.monitor)
		c.monitor = nil
	}
	c.pushers.Wait()
}

// monitorCmd answers MONITOR.
func (c *conn) monitorCmd() {
	if c.monitor != nil {
		c.local([]byte("+OK\r\n"))
		return
	}
	st, err := c.sess.Monitor()
	if err != nil {
		c.errorReply(err.Error())
		return
	}
	g := &group{st: st, kind: pubsub.Monitor, live: 1, stop: make(chan struct{})}
	c.s.streams.Add(1)
	c.local([]byte("+OK\r\n"))
	c.monitor = g
	c.pushers.Add(1)
	go c.push(g)
}

// push writes g's messages to the client until g is stopped or ends; a stream the hub ends
// (a subscriber too slow for its bounded queue, a lost MONITOR connection, the hub closing)
// or a revoked token closes the client connection.
func (c *conn) push(g *group) {
	defer c.pushers.Done()
	var msgs []proxy.StreamMessage
	revoked := c.sess.Revoked()
	for {
		select {
		case <-g.stop:
			return
		case <-g.st.Ready():
			msgs = g.st.Take(msgs[:0])
			if !c.deliver(g, msgs) {
				return
			}
		case <-g.st.Done():
			select {
			case <-g.stop:
				return // closed by the connection itself
			default:
			}
			c.deliver(g, g.st.Take(msgs[:0]))
			msg := "ERR subscription ended: " + g.st.Err().Error()
			if errors.Is(g.st.Err(), pubsub.ErrSlowConsumer) {
				msg = "ERR slow consumer: too many messages waiting for this client, it is disconnected"
			}
			c.kill(msg)
			return
		case <-revoked:
			c.kill("ERR the token of this connection was revoked")
			return
		}
	}
}

// deliver writes msgs of g that the client is still subscribed to; it reports false when the
// write failed (the connection is then closed).
func (c *conn) deliver(g *group, msgs []proxy.StreamMessage) bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var out []byte
	for _, m := range msgs {
		switch g.kind {
		case pubsub.Monitor:
			out = append(append(append(out, '+'), m.Payload...), "\r\n"...)
		case pubsub.Channels:
			if c.chans[string(m.Channel)] != g {
				continue
			}
			out = c.pushHeader(out, 3)
			out = bulkStr(out, "message")
			out = resp.AppendBulk(out, m.Channel)
			out = resp.AppendBulk(out, m.Payload)
		case pubsub.Patterns:
			if c.pats[string(m.Pattern)] != g {
				continue
			}
			out = c.pushHeader(out, 4)
			out = bulkStr(out, "pmessage")
			out = resp.AppendBulk(out, m.Pattern)
			out = resp.AppendBulk(out, m.Channel)
			out = resp.AppendBulk(out, m.Payload)
		}
		if len(out) >= bufSize {
			if !c.pushOut(out) {
				return false
			}
			out = out[:0]
		}
	}
	if len(out) > 0 && !c.pushOut(out) {
		return false
	}
	return true
}

// pushOut writes and flushes out; c.wmu is held. A failed write stays in c.bw (bufio keeps
// it), where the connection's goroutine finds it.
func (c *conn) pushOut(out []byte) bool {
	c.setWriteDeadline(coarse(time.Now(), c.s.opts.WriteTimeout))
	_, err := c.bw.Write(out)
	if err == nil {
		err = c.bw.Flush()
	}
	if err != nil {
		c.nc.Close() // the connection's goroutine stops reading
		return false
	}
	return true
}

// kill writes msg as an error and closes the connection; its goroutine then stops.
func (c *conn) kill(msg string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	c.bw.Write(resp.AppendError(nil, msg))
	c.bw.Flush()
	c.nc.Close()
}
