package config

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"

	"github.com/redisgate/redisgate/pool"
)

// Isolation modes: how databases are kept from reaching beyond their logical database.
const (
	// IsolationACL confines each database's Redis connections to a Redis ACL user of the
	// gateway's own, which cannot select another logical database (see README, Threat model).
	IsolationACL = "acl"
	// IsolationOff relies on the gateway's command checks alone: Lua scripts can then reach
	// the other logical databases of their server.
	IsolationOff = "off"
)

// DefaultLimitDB is the logical database that keeps rate-limiter state on the first
// database's server when rate_limits.redis is not given.
const DefaultLimitDB = 15

// Placement is where one database lives among the others.
type Placement struct {
	// DB is the logical database number its tokens open.
	DB int
	// Shared reports that another configured database lives on one of its Redis servers.
	Shared bool
	// LimiterHere reports that the rate limiter keeps its state on one of its Redis servers.
	LimiterHere bool
}

// nodes returns what identifies the Redis servers of d: the address of its upstream and of
// each replica, or its Sentinels' master name (two databases naming the same master of
// the same Sentinels share a server).
func nodes(d Database) []string {
	var out []string
	if len(d.Cluster) > 0 {
		s := slices.Clone(d.Cluster)
		slices.Sort(s)
		return []string{fmt.Sprintf("cluster %v", s)}
	}
	if len(d.Sentinels) > 0 {
		s := slices.Clone(d.Sentinels)
		slices.Sort(s)
		return []string{fmt.Sprintf("sentinel %s %v", d.MasterName, s)}
	}
	for _, u := range append([]string{d.Upstream}, d.ReplicaURLs()...) {
		if o, err := pool.ParseURL(u); err == nil {
			out = append(out, o.Addr)
		}
	}
	return out
}

// dbNumber returns the logical database of d's upstream URL (0 without one).
func dbNumber(url string) int {
	if url == "" {
		return 0
	}
	o, err := pool.ParseURL(url)
	if err != nil {
		return 0
	}
	return o.DB
}

// LimiterURL returns the URL of the Redis keeping rate-limiter state: rate_limits.redis,
// or the first database's upstream with its logical database set to rate_limits.db.
func (c *Config) LimiterURL() string {
	if c.RateLimits.Redis != "" || len(c.Databases) == 0 {
		return c.RateLimits.Redis
	}
	return withDB(c.Databases[0].Upstream, c.RateLimits.DB)
}

// withDB returns the Redis URL u with its logical database set to db.
func withDB(u string, db int) string {
	parsed, err := url.Parse(u)
	if err != nil || u == "" {
		return u
	}
	if parsed.Scheme == "unix" {
		q := parsed.Query()
		q.Set("db", strconv.Itoa(db))
		parsed.RawQuery = q.Encode()
		return parsed.String()
	}
	parsed.Path = "/" + strconv.Itoa(db)
	return parsed.String()
}

// Placements returns where each database lives, in the order of c.Databases.
func (c *Config) Placements() []Placement {
	out := make([]Placement, len(c.Databases))
	limiter := []string(nil)
	if c.Limited() {
		if c.RateLimits.Redis != "" {
			if o, err := pool.ParseURL(c.RateLimits.Redis); err == nil {
				limiter = []string{o.Addr}
			}
		} else if len(c.Databases) > 0 {
			limiter = nodes(c.Databases[0])
		}
	}
	for i, d := range c.Databases {
		out[i].DB = dbNumber(d.Upstream)
		mine := nodes(d)
		for j, e := range c.Databases {
			if i != j && overlap(mine, nodes(e)) {
				out[i].Shared = true
			}
		}
		out[i].LimiterHere = overlap(mine, limiter)
	}
	return out
}

func overlap(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// validateIsolation checks that no two databases, nor a database and the limiter's state,
// share one logical database of one server.
func (c *Config) validateIsolation() error {
	switch c.Isolation {
	case IsolationACL, IsolationOff:
	default:
		return fmt.Errorf("isolation: %q is not %s or %s", c.Isolation, IsolationACL, IsolationOff)
	}
	if c.RateLimits.DB < 0 {
		return fmt.Errorf("rate_limits.db: must not be negative, got %d", c.RateLimits.DB)
	}
	for i, d := range c.Databases {
		for j := range i {
			e := c.Databases[j]
			if overlap(nodes(d), nodes(e)) && dbNumber(d.Upstream) == dbNumber(e.Upstream) {
				return fmt.Errorf("databases[%d].upstream: logical database %d of this server is already database %s's: each database needs a logical database of its own", i, dbNumber(d.Upstream), e.Name)
			}
		}
	}
	if c.Limited() && c.RateLimits.Redis == "" && len(c.Databases) > 0 {
		first := nodes(c.Databases[0])
		for i, d := range c.Databases {
			if overlap(nodes(d), first) && dbNumber(d.Upstream) == c.RateLimits.DB {
				return fmt.Errorf("databases[%d].upstream: logical database %d keeps the rate limiter's state (rate_limits.db, --limit-db): give the database another one, or the limiter another", i, c.RateLimits.DB)
			}
		}
	}
	return nil
}
