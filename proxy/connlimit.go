package proxy

import (
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/redisgate/redisgate/ratelimit/clientip"
)

// limitListener refuses connections past maxTotal open ones with a JSON 503, and those from
// an IP that already has maxPerIP open with a JSON 429, then closes them (fasthttp's own
// MaxConnsPerIP and Concurrency answer in plain text). A zero maximum is no limit; IPs
// exempt reports (trusted reverse proxies, which carry many clients) have no per-IP limit.
type limitListener struct {
	net.Listener
	maxTotal, maxPerIP int
	exempt             func(netip.Addr) bool
	logger             *slog.Logger

	mu       sync.Mutex
	total    int
	count    map[netip.Addr]int
	refusing bool // a refusal was logged and no connection was accepted since
}

// refusal returns a whole HTTP response of status answering {"error":msg}, closing the connection.
func refusal(status, msg string) []byte {
	body := `{"error":"` + msg + `"}`
	return []byte("HTTP/1.1 " + status + "\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n" + body)
}

// Accept returns the next connection within the limits.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := clientip.PeerAddr(c.RemoteAddr())
		perIP := l.maxPerIP > 0 && !l.exempt(ip)
		l.mu.Lock()
		var refuse []byte
		switch {
		case l.maxTotal > 0 && l.total >= l.maxTotal:
			refuse = refusal("503 Service Unavailable", "ERR too many connections to the gateway")
		case perIP && l.count[ip] >= l.maxPerIP:
			refuse = refusal("429 Too Many Requests", "ERR too many connections from this address")
		}
		if refuse != nil {
			first, open := !l.refusing, l.total
			l.refusing = true
			l.mu.Unlock()
			if first {
				l.logger.Warn("refusing connections", "client", ip.String(), "open", open, "max_conns", l.maxTotal, "max_conns_per_ip", l.maxPerIP)
			}
			c.SetWriteDeadline(time.Now().Add(time.Second))
			c.Write(refuse)
			c.Close()
			continue
		}
		l.refusing = false
		l.total++
		if perIP {
			l.count[ip]++
		}
		l.mu.Unlock()
		return &countedConn{Conn: c, release: func() {
			l.mu.Lock()
			l.total--
			if perIP {
				if l.count[ip]--; l.count[ip] <= 0 {
					delete(l.count, ip)
				}
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

// Close closes the connection and gives its slot back.
func (c *countedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}
