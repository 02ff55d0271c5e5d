package config

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestRegions checks the forms of issue 20's settings: replicas as URLs or {url, region},
// regions in the file and on the command line, the gateway's region and hedge_after.
func TestRegions(t *testing.T) {
	file := filepath.Join(t.TempDir(), "config.yaml")
	doc := "region: eu-west-3a\nhedge_after: 5ms\nregions: 10.0.0.1:6379=us-east-1,10.0.0.9:6379=ap\n" +
		"databases:\n  - name: a\n    upstream: redis://10.0.0.1:6379\n    tokens: [" + tok + "]\n" +
		"    replicas:\n      - redis://10.0.0.2:6379\n      - url: redis://10.0.0.3:6379\n        region: eu-west-3a\n" +
		"      - {url: redis://10.0.0.4:6379, region: ap-south-1}\n" +
		"    regions:\n      10.0.0.2:6379: us-east-1\n      10.0.0.4:6379: overridden\n      10.0.0.9:6379: eu\n" +
		"  - name: b\n    upstream: redis://10.0.1.1:6379\n    tokens: [" + tok + "x]\n    sentinels: [10.0.1.5:26379]\n    master_name: m\n"
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load([]string{"--config", file}, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Region != "eu-west-3a" || c.HedgeAfter != 5*time.Millisecond {
		t.Errorf("region %q hedge_after %v", c.Region, c.HedgeAfter)
	}
	a := c.Databases[0]
	if got, want := a.ReplicaURLs(), []string{"redis://10.0.0.2:6379", "redis://10.0.0.3:6379", "redis://10.0.0.4:6379"}; !slices.Equal(got, want) {
		t.Errorf("replica URLs %v, want %v", got, want)
	}
	want := map[string]string{"10.0.0.1:6379": "us-east-1", "10.0.0.2:6379": "us-east-1", "10.0.0.3:6379": "eu-west-3a",
		"10.0.0.4:6379": "ap-south-1", "10.0.0.9:6379": "eu"}
	if got := a.NodeRegions(); !maps.Equal(got, want) {
		t.Errorf("database a's regions %v, want %v (a replica's own label wins, then the database's, then the top level's)", got, want)
	}
	if got := c.Databases[1].NodeRegions(); !maps.Equal(got, map[string]string{"10.0.0.1:6379": "us-east-1", "10.0.0.9:6379": "ap"}) {
		t.Errorf("database b's regions %v, want the top level's", got)
	}

	// The single-database form, from flags.
	c, err = Load([]string{"--upstream", "redis://10.0.0.1:6379", "--token", tok, "--replica", "redis://10.0.0.2:6379,redis://10.0.0.3:6379",
		"--regions", "10.0.0.2:6379=eu, 10.0.0.3:6379=us", "--region", "eu", "--hedge-after", "2ms"}, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	d := c.Databases[0]
	if !slices.Equal(d.ReplicaURLs(), []string{"redis://10.0.0.2:6379", "redis://10.0.0.3:6379"}) ||
		!maps.Equal(d.NodeRegions(), map[string]string{"10.0.0.2:6379": "eu", "10.0.0.3:6379": "us"}) || c.Region != "eu" || c.HedgeAfter != 2*time.Millisecond {
		t.Errorf("from flags: replicas %v regions %v region %q hedge %v", d.ReplicaURLs(), d.NodeRegions(), c.Region, c.HedgeAfter)
	}
	if got := c.Regions.String(); got != "10.0.0.2:6379=eu,10.0.0.3:6379=us" {
		t.Errorf("regions print as %q", got)
	}
	// The top-level regions as a mapping too.
	c, err = Load([]string{"--config", writeFile(t, "regions:\n  10.0.0.1:6379: us\ndatabases:\n  - name: a\n    upstream: redis://10.0.0.1:6379\n    tokens: ["+tok+"]\n")}, env(nil), &bytes.Buffer{})
	if err != nil || !maps.Equal(c.Databases[0].NodeRegions(), map[string]string{"10.0.0.1:6379": "us"}) {
		t.Errorf("top-level regions as a mapping: %v", err)
	}
	// Off by default.
	c, err = Load(nil, env(nil), &bytes.Buffer{})
	if err != nil || c.HedgeAfter != 0 || c.Region != "" {
		t.Errorf("defaults: hedge %v region %q (%v)", c.HedgeAfter, c.Region, err)
	}
}
