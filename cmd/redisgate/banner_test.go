package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redisgate/redisgate/internal/redistest"
)

// TestTokenBanner checks, for each way of giving the token, in embedded and upstream mode,
// that the banner says where the token came from and prints it, or its fingerprint and where
// to find it, and that the token works.
func TestTokenBanner(t *testing.T) {
	rs := redistest.Start(t)
	const token = "banner-test-token-0123456789"
	sum := sha256.Sum256([]byte(token))
	fingerprint := fmt.Sprintf("sha256:%x… (fingerprint)", sum[:4])
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("  "+token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	upstream := []string{"--upstream", rs.URL()}
	yaml := filepath.Join(t.TempDir(), "redisgate.yaml")
	if err := os.WriteFile(yaml, []byte("upstream: "+rs.URL()+"\ntoken_file: "+file+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		env   map[string]string
		args  []string
		token string // the line after "token:   "
		try   string // the Authorization header of the try: line
	}{
		{"embedded, generated", nil, nil, "", ""},
		{"embedded, --token", nil, []string{"--token", token},
			token + " (from --token; stays the same across restarts)", token},
		{"embedded, --token-file", nil, []string{"--token-file", file},
			fingerprint + " (from --token-file " + file + "; stays the same across restarts; `cat " + file + "` prints it)", "$(cat " + file + ")"},
		{"upstream, --token", nil, append([]string{"--token", token}, upstream...),
			token + " (from --token)", token},
		{"upstream, --token-file", nil, append([]string{"--token-file", file}, upstream...),
			fingerprint + " (from --token-file " + file + "; `cat " + file + "` prints it)", "$(cat " + file + ")"},
		{"upstream, REDISGATE_TOKEN", map[string]string{"REDISGATE_TOKEN": token}, upstream,
			fingerprint + " (from REDISGATE_TOKEN; `echo $REDISGATE_TOKEN` prints it)", "$REDISGATE_TOKEN"},
		{"upstream, REDISGATE_TOKEN_FILE", map[string]string{"REDISGATE_TOKEN_FILE": file}, upstream,
			fingerprint + " (from REDISGATE_TOKEN_FILE " + file + "; `cat " + file + "` prints it)", "$(cat " + file + ")"},
		{"config file's token_file", nil, []string{"--config", yaml},
			fingerprint + " (from the config file's token_file " + file + "; `cat " + file + "` prints it)", "$(cat " + file + ")"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--listen", "127.0.0.1:0", "--admin-listen", ""}, tt.args...)
			url, lines := startRunEnv(t, tt.env, "try:", args...)
			var tokenLine, tryLine string
			for _, l := range lines {
				if v, ok := strings.CutPrefix(l, "token:   "); ok {
					tokenLine = v
				}
				if v, ok := strings.CutPrefix(l, "try:     "); ok {
					tryLine = v
				}
			}
			use := token
			if tt.token == "" { // generated
				generated, rest, _ := strings.Cut(tokenLine, " ")
				if len(generated) != 48 || rest != "(generated: pass --token or --token-file to keep it across restarts)" {
					t.Fatalf("token line %q", tokenLine)
				}
				use, tt.try = generated, generated
			} else if tokenLine != tt.token {
				t.Errorf("token line\n got %q\nwant %q", tokenLine, tt.token)
			}
			if !strings.HasPrefix(tryLine, `curl -H "Authorization: Bearer `+tt.try+`" `+url+"/") {
				t.Errorf("try line %q", tryLine)
			}
			if tt.token != "" && !strings.HasPrefix(tt.token, token) && strings.Contains(strings.Join(lines, "\n"), token) {
				t.Errorf("the token from a file or the environment was printed: %q", lines)
			}
			if code, body := get(t, url+"/ping", use); code != 200 || body != `{"result":"PONG"}` {
				t.Errorf("ping with the token: %d %s", code, body)
			}
		})
	}
}
