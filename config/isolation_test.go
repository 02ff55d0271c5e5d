package config

import (
	"bytes"
	"strings"
	"testing"
)

const twoDatabases = `
rate_limits: { daily: 100 }
databases:
  - name: a
    upstream: %s
    tokens: [ "token-of-database-a-0123" ]
  - name: b
    upstream: %s
    tokens: [ "token-of-database-b-0123" ]
`

func loadTwo(t *testing.T, a, b string, args ...string) (Config, error) {
	t.Helper()
	file := writeFile(t, strings.Replace(strings.Replace(twoDatabases, "%s", a, 1), "%s", b, 1))
	return Load(append([]string{"--config", file}, args...), env(nil), &bytes.Buffer{})
}

func TestPlacements(t *testing.T) {
	tests := []struct {
		name, a, b string
		want       []Placement
	}{
		{"one server, two logical databases", "redis://10.0.0.1:6379/1", "redis://:pw@10.0.0.1:6379/2",
			[]Placement{{DB: 1, Shared: true, LimiterHere: true}, {DB: 2, Shared: true, LimiterHere: true}}},
		{"two servers", "redis://10.0.0.1:6379", "redis://10.0.0.2:6379",
			[]Placement{{DB: 0, LimiterHere: true}, {DB: 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadTwo(t, tt.a, tt.b)
			if err != nil {
				t.Fatal(err)
			}
			got := c.Placements()
			if len(got) != 2 || got[0] != tt.want[0] || got[1] != tt.want[1] {
				t.Errorf("Placements() = %+v, want %+v", got, tt.want)
			}
			if u := c.LimiterURL(); !strings.HasSuffix(u, "/15") || !strings.Contains(u, "10.0.0.1:6379") {
				t.Errorf("LimiterURL() = %q, want the first database's server, logical database 15", u)
			}
		})
	}
}

func TestIsolationErrors(t *testing.T) {
	tests := []struct {
		name, a, b string
		args       []string
		want       string
	}{
		{"same logical database twice", "redis://10.0.0.1:6379/3", "redis://10.0.0.1:6379/3", nil,
			"databases[1].upstream: logical database 3 of this server is already database a's"},
		{"a database in the limiter's logical database", "redis://10.0.0.1:6379/0", "redis://10.0.0.1:6379/15", nil,
			"databases[1].upstream: logical database 15 keeps the rate limiter's state"},
		{"the limiter moved onto a database", "redis://10.0.0.1:6379/0", "redis://10.0.0.1:6379/1", []string{"--limit-db", "1"},
			"databases[1].upstream: logical database 1 keeps the rate limiter's state"},
		{"unknown isolation", "redis://10.0.0.1:6379/0", "redis://10.0.0.2:6379/0", []string{"--isolation", "strict"},
			`isolation: "strict" is not acl or off`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadTwo(t, tt.a, tt.b, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := loadTwo(t, "redis://10.0.0.1:6379/0", "redis://10.0.0.1:6379/15", "--limit-redis", "redis://10.0.0.9:6379"); err != nil {
		t.Errorf("logical database 15 with the limiter elsewhere: %v", err)
	}
}

func TestWithDB(t *testing.T) {
	for give, want := range map[string]string{
		"redis://h:1":             "redis://h:1/15",
		"rediss://u:p@h:1/2?x=1":  "rediss://u:p@h:1/15?x=1",
		"unix:///tmp/r.sock?db=3": "unix:///tmp/r.sock?db=15",
	} {
		if got := withDB(give, 15); got != want {
			t.Errorf("withDB(%q) = %q, want %q", give, got, want)
		}
	}
}
