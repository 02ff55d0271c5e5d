package command

import (
	"strings"
	"testing"
	"time"
)

// The deprecated wrappers keep today's behaviour for proxy/ until it switches to Scope.

func TestDeprecatedCheck(t *testing.T) {
	tests := []struct {
		give     []string
		readOnly bool
		wantErr  string // prefix; "" means allowed
	}{
		{[]string{"get", "k"}, true, ""},
		{[]string{"GET", "k"}, false, ""},
		{[]string{"set", "k", "v"}, false, ""},
		{[]string{"set", "k", "v"}, true, "NOPERM"},
		{[]string{"keys", "*"}, true, "NOPERM"},
		{[]string{"keys", "*"}, false, ""},
		{[]string{"eval_ro", "return 1", "0"}, true, ""},
		{[]string{"multi"}, false, "ERR command 'MULTI' is not supported"},
		{[]string{"Client", "list"}, false, "ERR command 'CLIENT' is not supported"},
		{[]string{"blpop", "l", "0"}, false, "ERR blocking command 'BLPOP'"},
		{[]string{"xread", "count", "1", "streams", "s", "0"}, true, ""},
		{[]string{"xread", "block", "0", "streams", "s", "$"}, true, "ERR blocking command 'XREAD'"},
		{[]string{"xreadgroup", "group", "g", "c", "BLOCK", "10", "streams", "s", ">"}, false, "ERR blocking command 'XREADGROUP'"},
	}
	for _, tt := range tests {
		args := make([][]byte, len(tt.give))
		for i, a := range tt.give {
			args[i] = []byte(a)
		}
		_, err := Check(args, tt.readOnly, false)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("Check(%q, ro=%v) = %v, want allowed", tt.give, tt.readOnly, err)
		case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)):
			t.Errorf("Check(%q, ro=%v) = %v, want %q…", tt.give, tt.readOnly, err, tt.wantErr)
		}
	}
}

func TestDeprecatedCheckAllowsBlockingWhenAsked(t *testing.T) {
	if _, err := Check([][]byte{[]byte("BLPOP"), []byte("l"), []byte("1")}, false, true); err != nil {
		t.Errorf("BLPOP with blocking allowed: %v", err)
	}
	if _, err := Check([][]byte{[]byte("BLPOP"), []byte("l"), []byte("1")}, true, true); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
		t.Errorf("BLPOP with a read-only token: %v", err)
	}
}

func TestDeprecatedCapTimeout(t *testing.T) {
	tests := []struct {
		give     string
		wantArgs string
		wantD    time.Duration
	}{
		{"BLPOP a b 5", "BLPOP a b 5", 5 * time.Second},
		{"blpop a 0", "blpop a 30", 30 * time.Second},
		{"BRPOP a 100", "BRPOP a 30", 30 * time.Second},
		{"BRPOP a 0.5", "BRPOP a 0.5", 500 * time.Millisecond},
		{"BLMOVE a b LEFT RIGHT 0", "BLMOVE a b LEFT RIGHT 30", 30 * time.Second},
		{"BLMPOP 0 2 a b LEFT COUNT 3", "BLMPOP 30 2 a b LEFT COUNT 3", 30 * time.Second},
		{"BZMPOP 2 1 z MIN", "BZMPOP 2 1 z MIN", 2 * time.Second},
		{"WAIT 1 0", "WAIT 1 30000", 30 * time.Second},
		{"WAIT 1 250", "WAIT 1 250", 250 * time.Millisecond},
		{"XREAD COUNT 1 BLOCK 0 STREAMS s $", "XREAD COUNT 1 BLOCK 30000 STREAMS s $", 30 * time.Second},
		{"XREADGROUP GROUP g c block 100 STREAMS s >", "XREADGROUP GROUP g c block 100 STREAMS s >", 100 * time.Millisecond},
		{"BLPOP a soon", "BLPOP a soon", 30 * time.Second},
		{"BLPOP a -1", "BLPOP a -1", 30 * time.Second},
	}
	for _, tt := range tests {
		var args [][]byte
		for _, f := range strings.Fields(tt.give) {
			args = append(args, []byte(f))
		}
		d := CapTimeout(args, 30*time.Second)
		var got []string
		for _, a := range args {
			got = append(got, string(a))
		}
		if strings.Join(got, " ") != tt.wantArgs || d != tt.wantD {
			t.Errorf("CapTimeout(%s) = %q, %v; want %q, %v", tt.give, strings.Join(got, " "), d, tt.wantArgs, tt.wantD)
		}
	}
}
