package proxy

import (
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/redisgate/redisgate/ratelimit"
)

// perIPListener refuses, with a JSON 429, connections from an IP that already has max open.
// (fasthttp's own MaxConnsPerIP answers in plain text.)
type perIPListener struct {
	net.Listener
	max   int
	mu    sync.Mutex
	count map[string]int
}

var tooManyConns = func() []byte {
	body := `{"error":"ERR too many connections from this address"}`
	return []byte("HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n" + body)
}()

func (l *perIPListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := ratelimit.PeerAddr(c.RemoteAddr()).String()
		l.mu.Lock()
		if l.count[ip] >= l.max {
			l.mu.Unlock()
			c.SetWriteDeadline(time.Now().Add(time.Second))
			c.Write(tooManyConns)
			c.Close()
			continue
		}
		l.count[ip]++
		l.mu.Unlock()
		return &countedConn{Conn: c, release: func() {
			l.mu.Lock()
			if l.count[ip]--; l.count[ip] <= 0 {
				delete(l.count, ip)
			}
			l.mu.Unlock()
		}}, nil
	}
}

// countedConn gives its slot back once, when closed.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}
