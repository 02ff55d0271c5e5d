package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "redisgate.yaml")
	if err := os.WriteFile(name, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestDefaultsAreEmbedded(t *testing.T) {
	c, err := Load(nil, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Embedded() || c.Listen != "127.0.0.1:8079" || c.Limits.MaxBodyBytes != 10<<20 || c.PoolSize != 4 {
		t.Errorf("defaults: %+v", c)
	}
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, `
listen: 127.0.0.1:1111
pool_size: 3
limits:
  command_timeout: 3s
  max_pipeline: 50
databases:
  - name: a
    upstream: redis://127.0.0.1:6379/2
    tokens: [aaaaaaaaaaaaaaaaaaaa]
    read_only_tokens: [rrrrrrrrrrrrrrrrrrrr]
  - name: b
    upstream: rediss://user:pw@127.0.0.1:6380
    tokens: [bbbbbbbbbbbbbbbbbbbb]
    pool_size: 8
`)
	c, err := Load([]string{"--config", file, "--listen", "127.0.0.1:3333"}, env(map[string]string{
		"REDISGATE_LISTEN":          "127.0.0.1:2222",
		"REDISGATE_COMMAND_TIMEOUT": "4s",
		"REDISGATE_MAX_BODY":        "2MiB",
	}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:3333" {
		t.Errorf("flag should win: listen %s", c.Listen)
	}
	if c.Limits.CommandTimeout != 4*time.Second {
		t.Errorf("env should beat file: command timeout %s", c.Limits.CommandTimeout)
	}
	if c.Limits.MaxPipeline != 50 || c.Limits.MaxBodyBytes != 2<<20 {
		t.Errorf("limits %+v", c.Limits)
	}
	if len(c.Databases) != 2 || c.Databases[0].PoolSize != 3 || c.Databases[1].PoolSize != 8 || c.Embedded() {
		t.Errorf("databases %+v", c.Databases)
	}
}

func TestSingleDatabaseFromEnv(t *testing.T) {
	c, err := Load(nil, env(map[string]string{"REDISGATE_UPSTREAM": "redis://127.0.0.1:6379", "REDISGATE_TOKEN": "0123456789abcdef0123"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Databases) != 1 || c.Databases[0].Tokens[0] != "0123456789abcdef0123" || c.Databases[0].Upstream != "redis://127.0.0.1:6379" {
		t.Errorf("databases %+v", c.Databases)
	}
}

func TestErrorsNameTheField(t *testing.T) {
	tok := "--token=0123456789abcdef0123"
	tests := []struct {
		name    string
		args    []string
		file    string
		wantErr string
	}{
		{"upstream without token", []string{"--upstream", "redis://x:1"}, "", "token: required with upstream"},
		{"short token", []string{"--upstream", "redis://x:1", "--token", "short"}, "", "databases[0].tokens[0]: token shorter than 16"},
		{"bad url", []string{"--upstream", "http://x:1", tok}, "", `upstream (--upstream): "http://x:1" is not a Redis URL`},
		{"bad duration flag", []string{"--command-timeout", "soon"}, "", "--command-timeout"},
		{"bad size", []string{"--max-body", "lots"}, "", `--max-body: "lots" is not a size`},
		{"zero pool", []string{"--pool-size", "0"}, "", "pool_size: 0 not in 1..1024"},
		{"bad log level", []string{"--log-level", "loud"}, "", `--log-level: "loud" is not`},
		{"unknown file field", nil, "listen: x\nlisten_port: 3\n", `line 2: unknown key "listen_port"`},
		{"both forms", []string{"--upstream", "redis://x:1", tok}, "databases:\n  - name: a\n    upstream: redis://x:1\n    tokens: [aaaaaaaaaaaaaaaaaaaa]\n", "not both"},
		{"duplicate token", nil, "databases:\n  - name: a\n    upstream: redis://x:1\n    tokens: [aaaaaaaaaaaaaaaaaaaa]\n  - name: b\n    upstream: redis://x:2\n    tokens: [aaaaaaaaaaaaaaaaaaaa]\n", "databases[1].tokens[0]: token already used by a"},
		{"no tokens", nil, "databases:\n  - name: a\n    upstream: redis://x:1\n", "databases[0].tokens: at least one token required"},
		{"missing name", nil, "databases:\n  - upstream: redis://x:1\n    tokens: [aaaaaaaaaaaaaaaaaaaa]\n", "databases[0].name: required"},
		{"negative timeout in file", nil, "limits:\n  read_timeout: -1s\n", "limits.read_timeout: must be positive"},
		{"stray argument", []string{"serve"}, "", `unexpected argument "serve"`},
		{"bad ip rate", []string{"--limit-ip", "10/fortnight"}, "", "--limit-ip: rate \"10/fortnight\""},
		{"bad proxies", []string{"--trusted-proxies", "10.0.0.0/99"}, "", "--trusted-proxies: trusted proxy \"10.0.0.0/99\""},
		{"negative conns cap", []string{"--max-conns", "-1"}, "", "limits.max_conns: must not be negative"},
		{"zero header timeout", []string{"--header-timeout", "0s"}, "", "limits.header_timeout: must be positive"},
		{"budget below max body", []string{"--max-inflight-body", "1MiB"}, "", "limits.max_inflight_body: 1048576 is less than limits.max_body_bytes"},
		{"tiny memory limit", []string{"--memory-limit", "1MiB"}, "", "limits.memory_limit: at least 64MiB"},
		{"negative procs", []string{"--procs", "-1"}, "", "procs: -1 not in 0..4096"},
		{"procs in file", nil, "procs: 5000\n", "procs: 5000 not in 0..4096"},
		{"token limit for a stranger", nil, "databases:\n  - name: a\n    upstream: redis://x:1\n    tokens: [aaaaaaaaaaaaaaaaaaaa]\n    token_limits:\n      bbbbbbbbbbbbbbbbbbbb: {rate: 1/s}\n", "databases[0].token_limits: a token that is not one of this database's tokens"},
	}
	for _, tt := range tests {
		args := tt.args
		if tt.file != "" {
			args = append([]string{"--config", writeFile(t, tt.file)}, args...)
		}
		_, err := Load(args, env(nil), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: error %v, want it to contain %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestHelpListsEveryFlagAndEnv(t *testing.T) {
	var out bytes.Buffer
	_, err := Load([]string{"--help"}, env(nil), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help error %v", err)
	}
	for _, o := range options() {
		if !strings.Contains(out.String(), "-"+o.flag) || !strings.Contains(out.String(), o.env) {
			t.Errorf("help lacks --%s / %s", o.flag, o.env)
		}
	}
	if !strings.Contains(out.String(), "REDISGATE_CONFIG") {
		t.Error("help lacks --config")
	}
}

func TestParseSize(t *testing.T) {
	for give, want := range map[string]int{"10": 10, "10MiB": 10 << 20, "512KiB": 512 << 10, "1GB": 1e9, "3 MiB": 3 << 20} {
		if got, err := ParseSize(give); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", give, got, err, want)
		}
	}
	for _, give := range []string{"", "-1", "ten", "1TiB"} {
		if _, err := ParseSize(give); err == nil {
			t.Errorf("ParseSize(%q) accepted", give)
		}
	}
}

func TestStreamSettings(t *testing.T) {
	c, err := Load(nil, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.MaxStreamsPerToken != 100 || c.Limits.StreamHeartbeat != 15*time.Second {
		t.Errorf("defaults: %d streams, heartbeat %s", c.Limits.MaxStreamsPerToken, c.Limits.StreamHeartbeat)
	}
	file := writeFile(t, "limits:\n  max_streams_per_token: 7\n  stream_heartbeat: 3s\n")
	c, err = Load([]string{"--config", file, "--stream-heartbeat", "250ms"}, env(map[string]string{"REDISGATE_MAX_STREAMS_PER_TOKEN": "9"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.MaxStreamsPerToken != 9 || c.Limits.StreamHeartbeat != 250*time.Millisecond {
		t.Errorf("got %d streams, heartbeat %s; want env 9 and flag 250ms", c.Limits.MaxStreamsPerToken, c.Limits.StreamHeartbeat)
	}
	for args, want := range map[string]string{
		"--max-streams-per-token=0": "limits.max_streams_per_token: must be positive",
		"--stream-heartbeat=0s":     "limits.stream_heartbeat: must be positive",
	} {
		if _, err := Load([]string{args}, env(nil), &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", args, err, want)
		}
	}
}

func TestCacheSettings(t *testing.T) {
	file := writeFile(t, `
cache:
  enabled: true
  max_ttl: 30s
  edge_max_age: 10s
databases:
  - name: a
    upstream: redis://127.0.0.1:6379
    tokens: [aaaaaaaaaaaaaaaaaaaa]
  - name: b
    upstream: redis://127.0.0.1:6380
    tokens: [bbbbbbbbbbbbbbbbbbbb]
    cache:
      enabled: false
      edge_max_age: 5s
      edge_stale_while_revalidate: 1m
`)
	c, err := Load([]string{"--config", file, "--cache-max-bytes", "1MiB"}, env(map[string]string{"REDISGATE_CACHE_STRICT": "true"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Databases[0].Cache, c.Databases[1].Cache
	if !a.Enabled || !a.Strict || a.MaxBytes != 1<<20 || a.MaxTTL != 30*time.Second || a.EdgeMaxAge != 10*time.Second {
		t.Errorf("database a takes the top-level block: %+v", a)
	}
	if b.Enabled || b.Strict || b.MaxBytes != 1<<20 || b.MaxTTL != 30*time.Second || b.EdgeMaxAge != 5*time.Second || b.EdgeStaleWhileRevalidate != time.Minute {
		t.Errorf("database b's block replaces it, sizes and TTL inherited: %+v", b)
	}
	d, err := Load([]string{"--upstream", "redis://127.0.0.1:6379", "--token", "0123456789abcdef0123", "--cache=true", "--edge-max-age", "2s"}, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if k := d.Databases[0].Cache; !k.Enabled || k.MaxBytes != 64<<20 || k.MaxTTL != time.Minute || k.EdgeMaxAge != 2*time.Second {
		t.Errorf("single database: %+v", k)
	}
	for _, bad := range [][]string{{"--edge-max-age", "500ms"}, {"--edge-max-age", "1500ms"}, {"--cache-max-ttl", "0s"}, {"--cache", "maybe"}} {
		if _, err := Load(bad, env(nil), &bytes.Buffer{}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestBooleanFlags(t *testing.T) {
	c, err := Load([]string{"--pprof", "--limit-fail-closed=false"}, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Pprof || c.RateLimits.FailClosed {
		t.Errorf("pprof %v, fail-closed %v", c.Pprof, c.RateLimits.FailClosed)
	}
}

func TestMemoryBoundSettings(t *testing.T) {
	c, err := Load(nil, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	l := c.Limits
	if l.MaxConnsPerIP != 1024 || l.MaxConns != 10000 || l.HeaderTimeout != 10*time.Second || l.MemoryLimit != 1<<30 || l.MaxInflightBody != 0 {
		t.Errorf("defaults: %+v", l)
	}
	if got := l.InflightBody(0); got != 256<<20 {
		t.Errorf("default budget under the default 1GiB limit: %d", got)
	}
	c, err = Load([]string{"--max-conns", "50", "--max-conns-per-ip", "0", "--header-timeout", "3s", "--memory-limit", "2GiB"},
		env(map[string]string{"REDISGATE_MAX_INFLIGHT_BODY": "64MiB"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	l = c.Limits
	if l.MaxConns != 50 || l.MaxConnsPerIP != 0 || l.HeaderTimeout != 3*time.Second || l.MemoryLimit != 2<<30 || l.InflightBody(2<<30) != 64<<20 {
		t.Errorf("set: %+v", l)
	}
	for _, tt := range []struct {
		limit, maxBody int64
		want           int64
	}{
		{1 << 30, 10 << 20, 256 << 20},
		{4 << 30, 10 << 20, 1 << 30},
		{0, 10 << 20, 256 << 20},         // no memory limit
		{64 << 20, 100 << 20, 100 << 20}, // never below the largest body
	} {
		l := Limits{MaxBodyBytes: Size(tt.maxBody)}
		if got := l.InflightBody(tt.limit); got != tt.want {
			t.Errorf("InflightBody(%d) with max body %d: %d, want %d", tt.limit, tt.maxBody, got, tt.want)
		}
	}
}

// TestTokenFile checks --token-file, REDISGATE_TOKEN_FILE and token_file: the file's trimmed
// content is the token, the stronger source wins, and conflicts and empty files are errors.
func TestTokenFile(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("\n  file-token-0123456789abcdef \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := writeFile(t, "upstream: redis://127.0.0.1:6379\ntoken_file: "+tokenFile+"\n")
	const fileToken, flagToken = "file-token-0123456789abcdef", "flag-token-0123456789abcdef"
	up := []string{"--upstream", "redis://127.0.0.1:6379"}
	for _, tt := range []struct {
		name          string
		args          []string
		env           map[string]string
		token, source string
		err           string
	}{
		{"flag", append([]string{"--token-file", tokenFile}, up...), nil, fileToken, "--token-file", ""},
		{"env", up, map[string]string{"REDISGATE_TOKEN_FILE": tokenFile}, fileToken, "REDISGATE_TOKEN_FILE", ""},
		{"config file", []string{"--config", yaml}, nil, fileToken, "config file's token_file", ""},
		{"embedded", []string{"--token-file", tokenFile}, nil, fileToken, "--token-file", ""},
		{"--token over the env's file", append([]string{"--token", flagToken}, up...), map[string]string{"REDISGATE_TOKEN_FILE": tokenFile}, flagToken, "--token", ""},
		{"--token-file over the env's token", append([]string{"--token-file", tokenFile}, up...), map[string]string{"REDISGATE_TOKEN": flagToken}, fileToken, "--token-file", ""},
		{"--token", append([]string{"--token", flagToken}, up...), nil, flagToken, "--token", ""},
		{"env token", up, map[string]string{"REDISGATE_TOKEN": flagToken}, flagToken, "REDISGATE_TOKEN", ""},
		{"both flags", append([]string{"--token", flagToken, "--token-file", tokenFile}, up...), nil, "", "", "token and token_file: give one, not both"},
		{"missing file", append([]string{"--token-file", filepath.Join(dir, "nope")}, up...), nil, "", "", "token_file (--token-file): open"},
		{"empty file", append([]string{"--token-file", empty}, up...), nil, "", "", "holds no token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.args, env(tt.env), &bytes.Buffer{})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Token != tt.token || c.TokenSource != tt.source {
				t.Errorf("token %q from %q, want %q from %q", c.Token, c.TokenSource, tt.token, tt.source)
			}
		})
	}
}

// TestBadUpstreamURL checks that a malformed Redis URL is refused at start with the field
// named, plain words, a guess at what was meant, and no password.
func TestBadUpstreamURL(t *testing.T) {
	tok := []string{"--token", "url-test-token-0123456789"}
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"--upstream", "127.0.0.1:6379"}, []string{"upstream (--upstream)", "does not start with redis://", "did you mean redis://127.0.0.1:6379?"}},
		{[]string{"--upstream", "localhost:6379"}, []string{"upstream (--upstream)", "did you mean redis://localhost:6379?"}},
		{[]string{"--upstream", "redis//h:6379"}, []string{"upstream (--upstream)", "did you mean redis://h:6379?"}},
		{[]string{"--upstream", "rediss:/h:6380"}, []string{"did you mean rediss://h:6380?"}},
		{[]string{"--upstream", "http://127.0.0.1:6379"}, []string{"upstream (--upstream)", "the scheme http:// is not redis://", "did you mean redis://127.0.0.1:6379?"}},
		{[]string{"--upstream", "redis://:s3cret@127.0.0.1:notaport"}, []string{"upstream (--upstream)", "is not a valid Redis URL", ":xxxxx@"}},
		{[]string{"--upstream", "u:s3cret@127.0.0.1:6379"}, []string{"did you mean redis://u:xxxxx@127.0.0.1:6379?"}},
		{[]string{"--upstream", "redis://127.0.0.1:6379", "--replica", "127.0.0.1:6380"}, []string{"replica 1 (--replica)", "did you mean redis://127.0.0.1:6380?"}},
		{[]string{"--upstream", "redis://127.0.0.1:6379", "--limit-redis", "http://h:1"}, []string{"rate_limits.redis (--limit-redis)", "did you mean redis://h:1?"}},
	} {
		_, err := Load(append(tt.args, tok...), env(nil), &bytes.Buffer{})
		if err == nil {
			t.Errorf("%v: accepted", tt.args)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: %v\nlacks %q", tt.args, err, w)
			}
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%v: the error shows the password: %v", tt.args, err)
		}
		t.Log(err)
	}
	file := writeFile(t, "databases:\n  - name: a\n    upstream: 10.0.0.1:6379\n    tokens: [url-test-token-0123456789]\n")
	if _, err := Load([]string{"--config", file}, env(nil), &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "databases[0].upstream") || !strings.Contains(err.Error(), "did you mean redis://10.0.0.1:6379?") {
		t.Errorf("config file: %v", err)
	}
}

func TestSizesAndDurationsHaveOneSyntax(t *testing.T) {
	file := writeFile(t, `
max_lag: 2MiB
limits:
  max_body_bytes: 1MiB
  max_header_bytes: 8192
  command_timeout: 1m30s
cache:
  max_bytes: 4 KiB
`)
	c, err := Load([]string{"--config", file, "--cache-max-ttl", "2m"}, env(map[string]string{"REDISGATE_MAX_RESPONSE": "32MiB"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxLag != 2<<20 || c.Limits.MaxBodyBytes != 1<<20 || c.Limits.MaxHeaderBytes != 8192 || c.Cache.MaxBytes != 4<<10 ||
		c.Limits.CommandTimeout != 90*time.Second || c.Cache.MaxTTL != 2*time.Minute || c.Limits.MaxResponseBytes != 32<<20 {
		t.Errorf("got %+v", c)
	}
	if got := c.Limits.MaxBodyBytes.String(); got != "1MiB" {
		t.Errorf("String() = %q, want 1MiB", got)
	}
}

func TestValidateDoesNotChangeTheConfig(t *testing.T) {
	c := Default()
	c.Upstream, c.Token = "redis://127.0.0.1:6379", "0123456789abcdef0123"
	c.Databases = nil
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Databases != nil {
		t.Fatalf("Validate filled Databases: %+v", c.Databases)
	}
	c.Normalize()
	if len(c.Databases) != 1 || c.Databases[0].Name != "default" || c.Databases[0].PoolSize != c.PoolSize || *c.Databases[0].BlockingConns != c.BlockingConns || c.Databases[0].Cache.MaxBytes != c.Cache.MaxBytes {
		t.Fatalf("Normalize: %+v", c.Databases)
	}
}
