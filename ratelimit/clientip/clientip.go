// Package clientip finds a request's client address behind trusted reverse proxies, from the
// TCP peer and the Forwarded or X-Forwarded-For headers, so that a client cannot pick its own
// rate-limit key. It knows no HTTP server: callers pass the header values as strings.
package clientip

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Proxies is a set of trusted reverse proxies: only their X-Forwarded-For and Forwarded
// headers are believed.
type Proxies struct {
	prefixes []netip.Prefix
}

// ParseProxies parses a comma-separated list of CIDRs or addresses ("10.0.0.0/8,127.0.0.1").
func ParseProxies(list string) (Proxies, error) {
	var p Proxies
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return Proxies{}, fmt.Errorf("trusted proxy %q: %w", f, err)
			}
			p.prefixes = append(p.prefixes, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		pr, err := netip.ParsePrefix(f)
		if err != nil {
			return Proxies{}, fmt.Errorf("trusted proxy %q: %w", f, err)
		}
		p.prefixes = append(p.prefixes, pr.Masked())
	}
	return p, nil
}

// UnmarshalText reads a list in ParseProxies's form, as in a config file.
func (p *Proxies) UnmarshalText(b []byte) error {
	v, err := ParseProxies(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// Trusts reports whether a is a trusted proxy.
func (p Proxies) Trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, pr := range p.prefixes {
		if pr.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP returns the client's address: the peer's, unless the peer is a trusted proxy,
// in which case the forwarding headers are walked from the nearest hop outwards and the
// first address that is not a trusted proxy is the client. forwarded is the Forwarded
// header and xff the X-Forwarded-For header (several of each joined by commas, in order);
// Forwarded wins when both are present. A malformed header is ignored.
func (p Proxies) ClientIP(peer netip.Addr, forwarded, xff string) netip.Addr {
	peer = peer.Unmap()
	if !p.Trusts(peer) {
		return peer
	}
	var hops []netip.Addr
	var ok bool
	if forwarded != "" {
		hops, ok = parseForwarded(forwarded)
	} else if xff != "" {
		hops, ok = parseXFF(xff)
	}
	if !ok || len(hops) == 0 {
		return peer
	}
	for i := len(hops) - 1; i >= 0; i-- {
		if !p.Trusts(hops[i]) {
			return hops[i]
		}
	}
	return hops[0]
}

// PeerAddr returns the IP of a net.Addr (a *net.TCPAddr from a server's connection).
func PeerAddr(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func parseXFF(h string) ([]netip.Addr, bool) {
	var hops []netip.Addr
	for _, f := range strings.Split(h, ",") {
		a, err := netip.ParseAddr(strings.TrimSpace(f))
		if err != nil {
			return nil, false
		}
		hops = append(hops, a.Unmap())
	}
	return hops, true
}

// parseForwarded reads the for= parameters of an RFC 7239 Forwarded header.
func parseForwarded(h string) ([]netip.Addr, bool) {
	var hops []netip.Addr
	for _, elem := range strings.Split(h, ",") {
		found := false
		for _, pair := range strings.Split(elem, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if !ok || !strings.EqualFold(k, "for") {
				continue
			}
			v = strings.Trim(v, `"`)
			if strings.HasPrefix(v, "[") {
				end := strings.IndexByte(v, ']')
				if end < 0 {
					return nil, false
				}
				v = v[1:end]
			} else if host, _, err := net.SplitHostPort(v); err == nil {
				v = host
			}
			a, err := netip.ParseAddr(v)
			if err != nil {
				return nil, false // "unknown" or an obfuscated name: no address to trust
			}
			hops = append(hops, a.Unmap())
			found = true
		}
		if !found {
			return nil, false
		}
	}
	return hops, true
}
