package config

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestLimiterCluster loads rate_limits.cluster from the flag and from the file, beside a
// Cluster database with the read cache on.
func TestLimiterCluster(t *testing.T) {
	c, err := Load([]string{"--cluster", "h:7000", "--token", tok, "--limit-ip", "10/s", "--limit-cluster", "l:7000, l:7001", "--cache=true"}, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.RateLimits.Cluster, []string{"l:7000", "l:7001"}) || !c.Cache.Enabled {
		t.Errorf("rate_limits.cluster %q, cache %v", c.RateLimits.Cluster, c.Cache.Enabled)
	}
	name := filepath.Join(t.TempDir(), "config.yaml")
	file := "databases:\n  - name: a\n    cluster: [h:7000]\n    tokens: [" + tok + "]\n    cache:\n      enabled: true\n" +
		"rate_limits:\n  ip: 10/s\n  redis: redis://:secret@l:7000\n  cluster: [l:7000]\n"
	if err := os.WriteFile(name, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err = Load([]string{"--config", name}, env(nil), &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.RateLimits.Cluster, []string{"l:7000"}) {
		t.Errorf("rate_limits.cluster from the file: %q", c.RateLimits.Cluster)
	}
}
