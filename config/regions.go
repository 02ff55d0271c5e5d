package config

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/redisgate/redisgate/pool"
)

// Replica is one replica of a database's static topology: its redis:// URL and, optionally,
// the region it runs in. In the file an entry is either the URL alone or a mapping
// {url: …, region: …}.
type Replica struct {
	URL    string `yaml:"url" check:"redis-url"`
	Region string `yaml:"region"`
}

// UnmarshalYAML accepts a URL alone or a mapping with url and region.
func (r *Replica) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*r = Replica{URL: n.Value}
		return nil
	}
	type plain Replica
	return n.Decode((*plain)(r))
}

// replicaSyntax says, in an error message, how a list of replicas is written.
const replicaSyntax = "a list of Redis URLs, or of mappings {url: redis://…, region: …}"

// Regions labels nodes by host:port with the region they run in. On the command line and
// in the environment it is written host:port=region, comma-separated; in a database of the
// file, also as a mapping of host:port to region.
type Regions map[string]string

// regionsSyntax says, in an error message, how regions are written.
const regionsSyntax = "host:port=region, comma-separated"

// UnmarshalText parses host:port=region pairs, comma-separated.
func (r *Regions) UnmarshalText(b []byte) error {
	m := Regions{}
	for _, f := range splitList(string(b)) {
		addr, region, ok := strings.Cut(f, "=")
		if !ok {
			return fmt.Errorf("%q is not %s", f, regionsSyntax)
		}
		addr, region = strings.TrimSpace(addr), strings.TrimSpace(region)
		if err := checkRegionEntry(addr, region); err != nil {
			return err
		}
		if _, dup := m[addr]; dup {
			return fmt.Errorf("%s given twice", addr)
		}
		m[addr] = region
	}
	*r = m
	return nil
}

// String writes the regions as UnmarshalText reads them, sorted by address.
func (r Regions) String() string {
	var parts []string
	for _, addr := range slices.Sorted(maps.Keys(r)) {
		parts = append(parts, addr+"="+r[addr])
	}
	return strings.Join(parts, ",")
}

// checkRegion checks a region label: 1 to 64 letters, digits, '.', '_' or '-' (us-east-1,
// eu-west-3a), so that it reads the same in logs, metrics labels and flags.
func checkRegion(region string) error {
	if region == "" || len(region) > 64 {
		return fmt.Errorf("region %q: 1 to 64 characters", region)
	}
	for _, c := range region {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("region %q: letters, digits, '.', '_' and '-' only", region)
		}
	}
	return nil
}

// checkRegionEntry checks one host:port=region pair.
func checkRegionEntry(addr, region string) error {
	host, port, err := net.SplitHostPort(addr)
	if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q is not host:port (the address the node is reached at, as in 10.0.0.5:6379)", addr)
	}
	return checkRegion(region)
}

// checkRegions checks every pair of r.
func checkRegions(where string, r Regions) error {
	for _, addr := range slices.Sorted(maps.Keys(r)) {
		if err := checkRegionEntry(addr, r[addr]); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
	}
	return nil
}

// replicaList makes replicas of comma-separated URLs (--replica).
func replicaList(s string) []Replica {
	var out []Replica
	for _, u := range splitList(s) {
		out = append(out, Replica{URL: u})
	}
	return out
}

// ReplicaURLs returns the URLs of the database's replicas.
func (d *Database) ReplicaURLs() []string {
	out := make([]string, len(d.Replicas))
	for i, r := range d.Replicas {
		out[i] = r.URL
	}
	return out
}

// NodeRegions returns the region of each node of the database the configuration labels, by
// host:port: the regions map, then each replica's own label (which wins).
func (d *Database) NodeRegions() map[string]string {
	m := map[string]string{}
	maps.Copy(m, d.Regions)
	for _, r := range d.Replicas {
		if o, err := pool.ParseURL(r.URL); err == nil && r.Region != "" {
			m[o.Addr] = r.Region
		}
	}
	return m
}

// checkReplicas checks a database's replicas (where: "databases[0]").
func checkReplicas(where string, d *Database) error {
	for j, r := range d.Replicas {
		at := fmt.Sprintf("%s.replicas[%d]", where, j)
		if r.URL == "" {
			return fmt.Errorf("%s.url: required", at)
		}
		if err := checkRedisURL(at, r.URL); err != nil {
			return err
		}
		if r.Region != "" {
			if err := checkRegion(r.Region); err != nil {
				return fmt.Errorf("%s.region: %w", at, err)
			}
		}
	}
	return checkRegions(where+".regions", d.Regions)
}

// checkGlobal checks the top-level region, regions and hedge_after.
func checkGlobal(c *Config) error {
	if c.Region != "" {
		if err := checkRegion(c.Region); err != nil {
			return fmt.Errorf("region (--region): %w", err)
		}
	}
	if err := checkRegions("regions (--regions)", c.Regions); err != nil {
		return err
	}
	if c.HedgeAfter < 0 {
		return fmt.Errorf("hedge_after (--hedge-after): must not be negative, got %s", c.HedgeAfter)
	}
	return nil
}
