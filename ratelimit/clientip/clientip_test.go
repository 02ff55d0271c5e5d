package clientip_test

import (
	"net/netip"
	"testing"

	"github.com/redisgate/redisgate/ratelimit/clientip"
)

func TestClientIP(t *testing.T) {
	p, err := clientip.ParseProxies("10.0.0.0/8, 192.168.1.1, ::1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, peer, fwd, xff, want string
	}{
		{"untrusted peer: header ignored", "203.0.113.9", "", "1.2.3.4", "203.0.113.9"},
		{"untrusted peer: Forwarded ignored", "203.0.113.9", "for=1.2.3.4", "", "203.0.113.9"},
		{"trusted peer, one hop", "10.0.0.5", "", "198.51.100.7", "198.51.100.7"},
		{"spoofed first entry is skipped", "10.0.0.5", "", "1.2.3.4, 198.51.100.7", "198.51.100.7"},
		{"chain of trusted proxies", "10.0.0.5", "", "198.51.100.7, 192.168.1.1, 10.1.2.3", "198.51.100.7"},
		{"all hops trusted", "10.0.0.5", "", "10.9.9.9, 10.1.1.1", "10.9.9.9"},
		{"no header", "10.0.0.5", "", "", "10.0.0.5"},
		{"malformed header", "10.0.0.5", "", "1.2.3.4, nonsense", "10.0.0.5"},
		{"Forwarded wins", "10.0.0.5", `for="[2001:db8::1]:4711", for=192.168.1.1`, "9.9.9.9", "2001:db8::1"},
		{"Forwarded with port", "10.0.0.5", "for=198.51.100.7:1234;proto=https", "", "198.51.100.7"},
		{"Forwarded unknown", "10.0.0.5", "for=unknown", "", "10.0.0.5"},
		{"IPv4-mapped peer", "::ffff:10.0.0.5", "", "198.51.100.7", "198.51.100.7"},
		{"IPv6 loopback proxy", "::1", "", "2001:db8::2", "2001:db8::2"},
	} {
		got := p.ClientIP(netip.MustParseAddr(tt.peer), tt.fwd, tt.xff)
		if got.String() != tt.want {
			t.Errorf("%s: ClientIP = %s, want %s", tt.name, got, tt.want)
		}
	}
	if _, err := clientip.ParseProxies("10.0.0.0/33"); err == nil {
		t.Error("bad CIDR accepted")
	}
}

func TestUnmarshalText(t *testing.T) {
	var p clientip.Proxies
	if err := p.UnmarshalText([]byte("10.0.0.0/8")); err != nil || !p.Trusts(netip.MustParseAddr("10.1.2.3")) {
		t.Fatalf("UnmarshalText: %v, trusts 10.1.2.3: %v", err, p.Trusts(netip.MustParseAddr("10.1.2.3")))
	}
	if err := p.UnmarshalText([]byte("nonsense")); err == nil {
		t.Error("nonsense accepted")
	}
}
