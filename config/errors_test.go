package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const tok = "0123456789abcdef0123"

// TestMalformedConfigErrors asserts the exact message of each malformed file, flag and
// environment variable: each names where the mistake is and says what was expected.
func TestMalformedConfigErrors(t *testing.T) {
	tests := []struct {
		name     string
		giveFile string
		giveArgs []string
		giveEnv  map[string]string
		want     string
	}{
		// The file: unknown keys, with the key meant.
		{name: "misspelt key in a database", giveFile: "databases:\n  - name: a\n    upstream: redis://h:6379\n    tokns: [" + tok + "]\n",
			want: `config.yaml line 4: in databases[0]: unknown key "tokns" (did you mean "tokens"?)`},
		{name: "misspelt top-level key", giveFile: "listen: 127.0.0.1:1\npool_sise: 3\n", want: `config.yaml line 2: unknown key "pool_sise" (did you mean "pool_size"?)`},
		{name: "flag spelling of a key", giveFile: "limits:\n  max-body-bytes: 1MiB\n", want: `config.yaml line 2: in limits: unknown key "max-body-bytes" (did you mean "max_body_bytes"?)`},
		{name: "key cut short", giveFile: "cache:\n  max_byte: 1MiB\n", want: `config.yaml line 2: in cache: unknown key "max_byte" (did you mean "max_bytes"?)`},
		{name: "unknown key with no near one", giveFile: "wibble: 1\n", want: `config.yaml line 1: unknown key "wibble"`},
		{name: "key given twice", giveFile: "listen: a:1\npool_size: 2\nlisten: b:2\n", want: `config.yaml line 3: listen: given twice (first at line 1)`},
		// The file: values of the wrong type.
		{name: "tokens as a string", giveFile: "databases:\n  - name: a\n    upstream: redis://h:6379\n    tokens: " + tok + "\n", want: `config.yaml line 4: databases[0].tokens: expected a list of strings, got a string (not shown: it is secret)`},
		{name: "replicas as a string", giveFile: "databases:\n  - name: a\n    upstream: redis://h:6379\n    tokens: [" + tok + "]\n    replicas: redis://r:6379\n", want: `config.yaml line 5: databases[0].replicas: expected a list of Redis URLs, or of mappings {url: redis://…, region: …}, got "redis://r:6379"`},
		{name: "databases as a mapping", giveFile: "databases:\n  name: a\n", want: `config.yaml line 2: databases: expected a list of mappings, got a mapping`},
		{name: "database as a string", giveFile: "databases:\n  - a\n", want: `config.yaml line 2: databases[0]: expected a mapping of keys to values, got "a"`},
		{name: "limits as a number", giveFile: "limits: 10\n", want: `config.yaml line 1: limits: expected a mapping of keys to values, got 10`},
		{name: "pool size in words", giveFile: "pool_size: four\n", want: `config.yaml line 1: pool_size: expected a whole number, got "four"`},
		{name: "pool size too large", giveFile: "pool_size: 99999999999999999999\n", want: `config.yaml line 1: pool_size: expected a whole number, got 99999999999999999999`},
		{name: "boolean as a word", giveFile: "pprof: maybe\n", want: `config.yaml line 1: pprof: expected true or false, got "maybe"`},
		{name: "size with a bad unit", giveFile: "limits:\n  max_body_bytes: 10 MB?\n", want: `config.yaml line 2: limits.max_body_bytes: "10 MB?" is not a size (a number of bytes, optionally followed by KiB, MiB, GiB, KB, MB or GB, as in 10MiB)`},
		{name: "negative size", giveFile: "max_lag: -1\n", want: `config.yaml line 1: max_lag: "-1" is not a size (a number of bytes, optionally followed by KiB, MiB, GiB, KB, MB or GB, as in 10MiB)`},
		{name: "size too large", giveFile: "cache:\n  max_bytes: 99999999999GiB\n", want: `config.yaml line 2: cache.max_bytes: "99999999999GiB" is not a size (a number of bytes, optionally followed by KiB, MiB, GiB, KB, MB or GB, as in 10MiB)`},
		{name: "duration without a unit", giveFile: "limits:\n  command_timeout: 10\n", want: `config.yaml line 2: limits.command_timeout: "10" is not a duration such as 500ms, 30s, 5m or 1h30m`},
		{name: "duration as a list", giveFile: "ack_timeout: [1s]\n", want: `config.yaml line 1: ack_timeout: expected a duration such as 500ms, 30s, 5m or 1h30m, got a list`},
		// The file: syntax.
		{name: "tab in the indentation", giveFile: "limits:\n\tmax_pipeline: 3\n", want: `config.yaml line 2: a tab in the indentation; indent with spaces`},
		{name: "misaligned key", giveFile: "limits:\n  max_pipeline: 3\n max_args: 4\n", want: `config.yaml line 3: this line is indented differently from the keys above it`},
		{name: "misaligned list item", giveFile: "databases:\n  - name: a\n   tokens: [x]\n", want: `config.yaml line 3: this line is indented differently from the list items above it`},
		{name: "unclosed quote", giveFile: "listen: \"127.0.0.1:1\npool_size: 3\n", want: `config.yaml line 1: the file ends inside a quoted string or a bracket`},
		{name: "two colons", giveFile: "listen: 127.0.0.1:1\ncors_origin: a: b\n", want: `config.yaml line 2: a second ":" on the line (quote a value that holds ": ", or check the indentation)`},
		{name: "missing colon", giveFile: "listen: 127.0.0.1:1\npool_size 3\nlog_level: info\n", want: `config.yaml line 2: expected "key: value"`},
		{name: "unclosed bracket", giveFile: "databases:\n  - name: a\n    tokens: [" + tok + "\n    upstream: redis://h:6379\n", want: `config.yaml line 3: a list in [ ] is not closed, or lacks a ","`},
		// The file: values that parse but are wrong.
		{name: "upstream without a scheme", giveFile: "upstream: 127.0.0.1:6379\ntoken: " + tok + "\n", want: `config.yaml line 1: upstream: "127.0.0.1:6379" is not a Redis URL (redis://[user:password@]host:port[/db], rediss:// for TLS, or unix:///path): it does not start with redis://; did you mean redis://127.0.0.1:6379?`},
		{name: "database upstream over http", giveFile: "databases:\n  - name: a\n    upstream: http://h:6379\n    tokens: [" + tok + "]\n", want: `config.yaml line 3: databases[0].upstream: "http://h:6379" is not a Redis URL (redis://[user:password@]host:port[/db], rediss:// for TLS, or unix:///path): the scheme http:// is not redis://, rediss:// or unix://; did you mean redis://h:6379?`},
		{name: "replica without a scheme", giveFile: "databases:\n  - name: a\n    upstream: redis://h:6379\n    tokens: [" + tok + "]\n    replicas:\n      - redis://r1:6379\n      - r2:6379\n",
			want: `config.yaml line 7: databases[0].replicas[1]: "r2:6379" is not a Redis URL (redis://[user:password@]host:port[/db], rediss:// for TLS, or unix:///path): it does not start with redis://; did you mean redis://r2:6379?`},
		// Regions (issue 20): replicas as URLs or {url, region}, regions as host:port → region.
		{name: "replica mapping without a scheme", giveFile: "databases:\n  - name: a\n    upstream: redis://h:6379\n    tokens: [" + tok + "]\n    replicas:\n      - url: r1:6379\n        region: eu\n",
			want: `config.yaml line 6: databases[0].replicas[0].url: "r1:6379" is not a Redis URL (redis://[user:password@]host:port[/db], rediss:// for TLS, or unix:///path): it does not start with redis://; did you mean redis://r1:6379?`},
		{name: "replica mapping with a misspelt key", giveFile: "databases:\n  - name: a\n    upstream: redis://h:6379\n    tokens: [" + tok + "]\n    replicas:\n      - url: redis://r1:6379\n        regoin: eu\n",
			want: `config.yaml line 7: in databases[0].replicas[0]: unknown key "regoin" (did you mean "region"?)`},
		{name: "replica mapping without url", giveFile: "databases:\n  - name: a\n    upstream: redis://h:6379\n    tokens: [" + tok + "]\n    replicas:\n      - region: eu\n",
			want: `databases[0].replicas[0].url: required`},
		{name: "replica region with a space", giveFile: "databases:\n  - name: a\n    upstream: redis://h:6379\n    tokens: [" + tok + "]\n    replicas:\n      - {url: redis://r1:6379, region: eu west}\n",
			want: `databases[0].replicas[0].region: region "eu west": letters, digits, '.', '_' and '-' only`},
		{name: "regions keyed by a URL", giveFile: "databases:\n  - name: a\n    upstream: redis://h:6379\n    tokens: [" + tok + "]\n    regions:\n      redis://r1:6379: eu\n",
			want: `config.yaml line 6: databases[0].regions[redis://r1:6379]: "redis://r1:6379" is not host:port (the address the node is reached at, as in 10.0.0.5:6379)`},
		{name: "regions as a list", giveFile: "databases:\n  - name: a\n    upstream: redis://h:6379\n    tokens: [" + tok + "]\n    regions: [r1:6379]\n",
			want: `config.yaml line 5: databases[0].regions: expected host:port=region, comma-separated, or a mapping of host:port to region, got a list`},
		{name: "region too long", giveFile: "region: " + strings.Repeat("x", 65) + "\n", want: `region (--region): region "` + strings.Repeat("x", 65) + `": 1 to 64 characters`},
		{name: "regions flag without a region", giveArgs: []string{"--regions", "r1:6379=eu,r2:6379"}, want: `--regions: "r2:6379" is not host:port=region, comma-separated`},
		{name: "regions flag with a port out of range", giveArgs: []string{"--regions", "r1:70000=eu"}, want: `--regions: "r1:70000" is not host:port (the address the node is reached at, as in 10.0.0.5:6379)`},
		{name: "regions flag naming a node twice", giveArgs: []string{"--regions", "r1:1=eu,r1:1=us"}, want: `--regions: r1:1 given twice`},
		{name: "negative hedge", giveArgs: []string{"--hedge-after", "-5ms"}, want: `hedge_after (--hedge-after): must not be negative, got -5ms`},
		{name: "limiter redis with a mangled scheme", giveFile: "rate_limits:\n  redis: redis:/h:6379\n",
			want: `config.yaml line 2: rate_limits.redis: "redis:/h:6379" is not a Redis URL (redis://[user:password@]host:port[/db], rediss:// for TLS, or unix:///path): it does not start with redis://; did you mean redis://h:6379?`},
		{name: "bad rate", giveFile: "rate_limits:\n  ip: 10/fortnight\n", want: `config.yaml line 2: rate_limits.ip: rate "10/fortnight": unit must be s, m, h, d or a duration such as 5s`},
		{name: "bad per-token rate", giveFile: "databases:\n  - name: a\n    upstream: redis://h:6379\n    tokens: [" + tok + "]\n    token_limits:\n      " + tok + ": {rate: 5/w}\n",
			want: `config.yaml line 6: databases[0].token_limits[…].rate: rate "5/w": unit must be s, m, h, d or a duration such as 5s`},
		{name: "log level misspelt", giveFile: "log_level: inf\n", want: `config.yaml line 1: log_level: "inf" is not debug, info, warn or error (did you mean info?)`},
		// Flags.
		{name: "boolean flag with a space", giveArgs: []string{"--cache", "true"}, want: `unexpected argument "true" after --cache: a boolean flag takes its value after "=", as in --cache=true (--cache alone means true)`},
		{name: "false boolean flag with a space", giveArgs: []string{"--cache-strict", "false", "--listen", "a:1"}, want: `unexpected argument "false" after --cache-strict: a boolean flag takes its value after "=", as in --cache-strict=false (--cache-strict alone means true)`},
		{name: "misspelt flag", giveArgs: []string{"--tokn", tok}, want: `unknown flag --tokn (did you mean --token?)`},
		{name: "flag with underscores", giveArgs: []string{"--max_body", "1MiB"}, want: `unknown flag --max_body (did you mean --max-body?)`},
		{name: "flag without its value", giveArgs: []string{"--listen"}, want: `--listen needs a value, as in --listen=VALUE`},
		{name: "stray argument", giveArgs: []string{"serve"}, want: `unexpected argument "serve": redisgate takes only flags (--name=value)`},
		{name: "size flag with a bad unit", giveArgs: []string{"--max-body", "10MB?"}, want: `--max-body: "10MB?" is not a size (a number of bytes, optionally followed by KiB, MiB, GiB, KB, MB or GB, as in 10MiB)`},
		{name: "number flag in words", giveArgs: []string{"--pool-size", "four"}, want: `--pool-size: "four" is not a whole number`},
		{name: "boolean flag as a word", giveArgs: []string{"--cache=yes"}, want: `--cache: "yes" is not true or false`},
		{name: "duration flag without a unit", giveArgs: []string{"--command-timeout", "10"}, want: `--command-timeout: "10" is not a duration such as 500ms, 30s, 5m or 1h30m`},
		{name: "upstream flag without a scheme", giveArgs: []string{"--upstream", "localhost:6379", "--token", tok}, want: `upstream (--upstream): "localhost:6379" is not a Redis URL (redis://[user:password@]host:port[/db], rediss:// for TLS, or unix:///path): it does not start with redis://; did you mean redis://localhost:6379?`},
		{name: "upstream flag with a password and no scheme", giveArgs: []string{"--upstream", "default:secret@localhost:6379", "--token", tok}, want: `upstream (--upstream): "default:xxxxx@localhost:6379" is not a Redis URL (redis://[user:password@]host:port[/db], rediss:// for TLS, or unix:///path): it does not start with redis://; did you mean redis://default:xxxxx@localhost:6379?`},
		{name: "rate flag without a unit", giveArgs: []string{"--limit-ip", "10"}, want: `--limit-ip: rate "10": want COUNT/UNIT[:BURST], e.g. 10/s or 600/m:50`},
		{name: "cluster on a logical database", giveArgs: []string{"--cluster", "h:7000", "--upstream", "redis://h:7000/2", "--token", tok}, want: `databases[0].upstream: a Redis Cluster has database 0 only, not 2`},
		{name: "cluster with replicas", giveArgs: []string{"--cluster", "h:7000", "--replica", "redis://h:7001", "--token", tok}, want: `databases[0].cluster: a Redis Cluster names its replicas itself; give no replicas or sentinels`},
		{name: "limiter on a tenant's cluster", giveArgs: []string{"--cluster", "h:7000,h:7001", "--token", tok, "--limit-ip", "10/s", "--limit-cluster", "h:7001"}, want: `rate_limits.cluster[0] (--limit-cluster): h:7001 serves database "default": tenants could read and reset the limiter's state there; give a cluster of its own`},
		{name: "limiter cluster address", giveArgs: []string{"--limit-cluster", "h"}, want: `rate_limits.cluster[0] (--limit-cluster): "h" is not host:port`},
		{name: "limits on a cluster without a store", giveArgs: []string{"--cluster", "h:7000", "--token", tok, "--limit-ip", "10/s"}, want: `rate_limits.redis or rate_limits.cluster (--limit-redis, --limit-cluster): required when the first database is a Redis Cluster: the limiter's state cannot live in a logical database of its own there, where tenants could reach it`},
		{name: "log format unknown", giveArgs: []string{"--log-format", "logfmt"}, want: `--log-format: "logfmt" is not text or json`},
		// Environment variables.
		{name: "isolation variable unknown", giveEnv: map[string]string{"REDISGATE_ISOLATION": "none"}, want: `REDISGATE_ISOLATION: "none" is not acl or off`},
		{name: "size variable in words", giveEnv: map[string]string{"REDISGATE_MAX_BODY": "lots"}, want: `REDISGATE_MAX_BODY: "lots" is not a size (a number of bytes, optionally followed by KiB, MiB, GiB, KB, MB or GB, as in 10MiB)`},
		{name: "boolean variable as a word", giveEnv: map[string]string{"REDISGATE_PPROF": "maybe"}, want: `REDISGATE_PPROF: "maybe" is not true or false`},
		{name: "upstream variable over https", giveEnv: map[string]string{"REDISGATE_UPSTREAM": "https://h:6379", "REDISGATE_TOKEN": tok}, want: `upstream (--upstream): "https://h:6379" is not a Redis URL (redis://[user:password@]host:port[/db], rediss:// for TLS, or unix:///path): the scheme https:// is not redis://, rediss:// or unix://; did you mean redis://h:6379?`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.giveArgs
			dir := t.TempDir()
			if tt.giveFile != "" {
				name := filepath.Join(dir, "config.yaml")
				if err := os.WriteFile(name, []byte(tt.giveFile), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append([]string{"--config", name}, args...)
			}
			_, err := Load(args, env(tt.giveEnv), &bytes.Buffer{})
			if err == nil {
				t.Fatalf("accepted; want %s", tt.want)
			}
			if got := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), ""); got != tt.want {
				t.Errorf("error\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}
