package respserver_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redisgate/redisgate/respserver"
)

// raw is a bare TCP client of the listener.
type raw struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func (l *listener) raw(t *testing.T) *raw {
	nc, err := net.Dial("tcp", l.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &raw{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (r *raw) send(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.nc, s); err != nil {
		r.t.Fatal(err)
	}
}

// line reads one reply line.
func (r *raw) line() string {
	r.t.Helper()
	s, err := r.br.ReadString('\n')
	if err != nil {
		r.t.Fatalf("reading a reply: %v (got %q)", err, s)
	}
	return strings.TrimSuffix(s, "\r\n")
}

// closed checks that the server closes the connection with nothing more to say.
func (r *raw) closed() {
	r.t.Helper()
	rest, err := io.ReadAll(r.br)
	if errors.Is(err, syscall.ECONNRESET) {
		err = nil // closed with bytes of the client unread
	}
	if err != nil || len(rest) > 0 {
		r.t.Errorf("after the error: %q %v, want the connection closed", rest, err)
	}
}

func TestHostileInput(t *testing.T) {
	l := start(t)
	tests := []struct {
		name, give string
		auth       bool
		want       string // prefix of the error reply
	}{
		{"bad multibulk length", "*abc\r\n", false, "-ERR Protocol error: invalid multibulk length"},
		{"huge multibulk count before auth", "*2000000\r\n", false, "-ERR Protocol error: invalid multibulk length"},
		{"huge multibulk count", "*2000000\r\n", true, "-ERR Protocol error: invalid multibulk length"},
		{"multibulk count past int64", "*99999999999999999999999\r\n", true, "-ERR Protocol error: invalid multibulk length"},
		{"negative bulk length", "*1\r\n$-5\r\n", true, "-ERR Protocol error: invalid bulk length"},
		{"1 GB bulk header", "*1\r\n$1073741824\r\n", true, "-ERR Protocol error: invalid bulk length"},
		{"bulk larger than allowed before auth", "*2\r\n$4\r\nAUTH\r\n$20000\r\n", false, "-ERR Protocol error: invalid bulk length"},
		{"no bulk type", "*1\r\nfoo\r\n", true, "-ERR Protocol error: expected '$'"},
		{"bulk not terminated", "*1\r\n$3\r\nfooXY", true, "-ERR Protocol error: bulk string not terminated"},
		{"line without CR", "*1\n", true, "-ERR Protocol error: line not terminated"},
		{"unterminated count line", "*1" + strings.Repeat("1", 70000), true, "-ERR Protocol error: too big count string"},
		{"unterminated inline line", "GET " + strings.Repeat("a", 70<<10), true, "-ERR Protocol error: too big inline request"},
		{"unbalanced quotes", "SET \"a b\r\n", true, "-ERR Protocol error: unbalanced quotes"},
		{"command larger than allowed", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$11000000\r\n", true, "-ERR Protocol error: invalid bulk length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := l.raw(t)
			if tt.auth {
				r.send("AUTH " + rwToken + "\r\n")
				if got := r.line(); got != "+OK" {
					t.Fatalf("AUTH: %q", got)
				}
			}
			r.send(tt.give)
			if got := r.line(); !strings.HasPrefix(got, tt.want) {
				t.Errorf("got %q, want %q…", got, tt.want)
			}
			r.closed()
		})
	}
	// Pipelined commands before a bad one are answered first.
	r := l.raw(t)
	r.send("AUTH " + rwToken + "\r\nPING\r\n*1\r\n$-5\r\n")
	for _, want := range []string{"+OK", "+PONG", "-ERR Protocol error: invalid bulk length"} {
		if got := r.line(); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	r.closed()
	// A client that leaves in the middle of a command still gets the replies before it.
	r = l.raw(t)
	r.send("AUTH " + rwToken + "\r\nPING\r\n*1\r\n$4\r\nPI")
	r.nc.(*net.TCPConn).CloseWrite()
	for _, want := range []string{"+OK", "+PONG"} {
		if got := r.line(); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	r.closed()
	// Binary garbage: answered or closed, never a crash; other clients go on.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		r := l.raw(t)
		buf := make([]byte, 1+rng.IntN(4096))
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		r.nc.Write(buf)
		r.nc.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, r.br)
	}
	c := l.client(rwToken)
	if err := c.Set(context.Background(), "still", "fine", 0).Err(); err != nil {
		t.Fatalf("a good client after the hostile ones: %v", err)
	}
	if n := l.srv.Conns(); n > 2 {
		t.Logf("open connections: %d", n)
	}
}

func TestSlowClientsAndCaps(t *testing.T) {
	l := start(t, func(s *setup) {
		s.resp.AuthTimeout = 300 * time.Millisecond
		s.resp.IdleTimeout = 500 * time.Millisecond
		s.resp.MaxConns = 3
		s.resp.MaxInflight = 256 << 10
	})
	// Slowloris: a connection that never authenticates is closed at AuthTimeout, however
	// slowly it trickles bytes.
	r := l.raw(t)
	startAt := time.Now()
	r.send("AU")
	trickled := make(chan struct{})
	go func(nc net.Conn) {
		defer close(trickled)
		for range 10 {
			time.Sleep(50 * time.Millisecond)
			nc.Write([]byte("T"))
		}
	}(r.nc)
	if got := r.line(); got != "-ERR authentication timeout" {
		t.Errorf("got %q", got)
	}
	if d := time.Since(startAt); d > 2*time.Second {
		t.Errorf("closed after %v", d)
	}
	r.closed()
	<-trickled
	// Idle authenticated connections are closed at IdleTimeout.
	r = l.raw(t)
	r.send("AUTH " + rwToken + "\r\n")
	r.line()
	startAt = time.Now()
	r.closed()
	if d := time.Since(startAt); d < 400*time.Millisecond || d > 2*time.Second {
		t.Errorf("idle connection closed after %v", d)
	}
	// Request bytes in flight are bounded server-wide.
	r = l.raw(t)
	r.send("AUTH " + rwToken + "\r\n")
	r.line()
	r.send("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000000\r\n")
	if got := r.line(); !strings.Contains(got, "too many request bytes in flight") {
		t.Errorf("past MaxInflight: %q", got)
	}
	r.closed()
	// Connections past MaxConns are refused with an error reply.
	var open []*raw
	for range 3 {
		c := l.raw(t)
		c.send("PING\r\n")
		c.line()
		open = append(open, c)
	}
	extra := l.raw(t)
	if got := extra.line(); got != "-ERR max number of clients reached" {
		t.Errorf("past MaxConns: %q", got)
	}
	extra.closed()
	for _, c := range open {
		c.nc.Close()
	}
	_ = respserver.ErrServerClosed
}

// TestSlowCommandAfterAuth: an authenticated client that starts a command and trickles the
// rest is closed at ReadTimeout from the command's first byte, not at IdleTimeout; one that
// sends whole commands slowly, each within ReadTimeout, keeps its connection.
func TestSlowCommandAfterAuth(t *testing.T) {
	l := start(t, func(s *setup) {
		s.resp.ReadTimeout = 300 * time.Millisecond
		s.resp.IdleTimeout = 10 * time.Second
	})
	r := l.raw(t)
	r.send("AUTH " + rwToken + "\r\n")
	if got := r.line(); got != "+OK" {
		t.Fatalf("AUTH: %q", got)
	}
	// Whole commands, 200 ms apart, for longer than ReadTimeout: all answered.
	for range 4 {
		time.Sleep(200 * time.Millisecond)
		r.send("PING\r\n")
		if got := r.line(); got != "+PONG" {
			t.Fatalf("PING: %q", got)
		}
	}
	startAt := time.Now()
	r.send("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\n")
	trickled := make(chan struct{})
	go func(nc net.Conn) {
		defer close(trickled)
		for range 40 {
			time.Sleep(50 * time.Millisecond)
			if _, err := nc.Write([]byte("v")); err != nil {
				return
			}
		}
	}(r.nc)
	r.closed()
	if d := time.Since(startAt); d < 250*time.Millisecond || d > 2*time.Second {
		t.Errorf("a command trickled after AUTH was cut after %v, want about 300ms", d)
	}
	<-trickled
}
