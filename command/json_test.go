package command

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseJSON(t *testing.T) {
	tests := []struct {
		give string
		want []string
	}{
		{`["GET","k"]`, []string{"GET", "k"}},
		{` [ "SET" ,"k", "v" ,"EX", 100 ] `, []string{"SET", "k", "v", "EX", "100"}},
		{`["SET","k",-1.5e+10]`, []string{"SET", "k", "-1.5e+10"}},
		{`["SET","k",0]`, []string{"SET", "k", "0"}},
		{`["SET","k",true,false]`, []string{"SET", "k", "true", "false"}},
		{`["SET","k","a\"b\\c\/d\b\f\n\r\t"]`, []string{"SET", "k", "a\"b\\c/d\b\f\n\r\t"}},
		{`["ECHO","\u00e9\u4e2d\ud83d\ude00"]`, []string{"ECHO", "é中😀"}},
		{`["ECHO","\ud83d"]`, []string{"ECHO", "\ufffd"}},
		{`["ECHO","\ud83dx"]`, []string{"ECHO", "\ufffdx"}},
		{`["ECHO","\ud83d\u0041"]`, []string{"ECHO", "\ufffdA"}},
		{`["ECHO","raw é"]`, []string{"ECHO", "raw é"}},
		{"[\"ECHO\",\"\xff\xfe\"]", []string{"ECHO", "\xff\xfe"}},
		{`["ECHO",""]`, []string{"ECHO", ""}},
	}
	for _, tt := range tests {
		got, err := ParseJSON([]byte(tt.give))
		if err != nil {
			t.Errorf("ParseJSON(%s): %v", tt.give, err)
			continue
		}
		if !equalArgs(got, tt.want) {
			t.Errorf("ParseJSON(%s) = %q, want %q", tt.give, got, tt.want)
		}
	}
}

func TestParseJSONErrors(t *testing.T) {
	tests := []struct {
		give    string
		wantErr error
		wantMsg string
	}{
		{``, ErrSyntax, "expected '[' to start a command"},
		{`[]`, ErrEmpty, "empty command"},
		{`{"a":1}`, ErrSyntax, "a command is an array, not an object"},
		{`["SET",null]`, ErrSyntax, "null is not a valid argument"},
		{`["SET",{}]`, ErrSyntax, "not objects"},
		{`["SET",["a"]]`, ErrSyntax, "not arrays"},
		{`["SET","k"`, ErrSyntax, "expected ',' or ']'"},
		{`["SET","k",]`, ErrSyntax, "unexpected character ']'"},
		{`["SET" "k"]`, ErrSyntax, "expected ',' or ']'"},
		{`["SET","k]`, ErrSyntax, "unterminated string"},
		{`["SET","k\x"]`, ErrSyntax, `invalid escape '\x'`},
		{`["SET","k\u12"]`, ErrSyntax, `invalid \u escape`},
		{"[\"SET\",\"a\nb\"]", ErrSyntax, "control character in string"},
		{`["SET",01]`, ErrSyntax, "expected ',' or ']'"},
		{`["SET",1.]`, ErrSyntax, "invalid number"},
		{`["SET",-]`, ErrSyntax, "invalid number"},
		{`["SET",1e]`, ErrSyntax, "invalid number"},
		{`["SET",tru]`, ErrSyntax, "invalid literal"},
		{`["GET","k"] ["GET","k"]`, ErrSyntax, "unexpected data after the value"},
	}
	for _, tt := range tests {
		_, err := ParseJSON([]byte(tt.give))
		if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
			t.Errorf("ParseJSON(%s) error = %v, want %v containing %q", tt.give, err, tt.wantErr, tt.wantMsg)
		}
	}
}

func TestParseJSONList(t *testing.T) {
	got, err := ParseJSONList([]byte(` [["SET","a",1] , ["GET","a"]] `), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !equalArgs(got[0], []string{"SET", "a", "1"}) || !equalArgs(got[1], []string{"GET", "a"}) {
		t.Errorf("got %q", got)
	}
	for _, tt := range []struct {
		give    string
		max     int
		wantErr error
	}{
		{`[]`, 0, ErrEmpty},
		{`[[]]`, 0, ErrEmpty},
		{`[["GET"],["GET"],["GET"]]`, 2, ErrTooMany},
		{`["GET"]`, 0, ErrSyntax},
		{`[["GET"]`, 0, ErrSyntax},
		{`[["GET"],]`, 0, ErrSyntax},
		{`[["GET"]]]`, 0, ErrSyntax},
		{`null`, 0, ErrSyntax},
	} {
		if _, err := ParseJSONList([]byte(tt.give), tt.max); !errors.Is(err, tt.wantErr) {
			t.Errorf("ParseJSONList(%s) error = %v, want %v", tt.give, err, tt.wantErr)
		}
	}
}

func equalArgs(got [][]byte, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if string(got[i]) != want[i] {
			return false
		}
	}
	return true
}

// stdCommand decodes a command with encoding/json as the reference: ok is false when
// the body is not a non-empty array of strings, numbers and booleans.
func stdCommand(v any) ([]string, bool) {
	arr, ok := v.([]any)
	if !ok || len(arr) == 0 {
		return nil, false
	}
	out := make([]string, len(arr))
	for i, e := range arr {
		switch e := e.(type) {
		case string:
			out[i] = e
		case json.Number:
			out[i] = string(e)
		case bool:
			out[i] = map[bool]string{true: "true", false: "false"}[e]
		default:
			return nil, false
		}
	}
	return out, true
}

func stdDecode(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if len(bytes.TrimLeft(b[dec.InputOffset():], " \t\r\n")) > 0 {
		return nil, errors.New("trailing data")
	}
	return v, nil
}

var jsonSeeds = []string{
	`["GET","k"]`, `["SET","k","v","EX",100]`, `["SET","k",1.5e3,true,false]`, `["SET",null]`, `{"a":1}`,
	`["ECHO","\ud83d\ude00\u00e9\n"]`, `["ECHO","\ud83d"]`, `[]`, `[["GET","k"],["SET","a","b"]]`, `[[]]`, `[["GET"],`,
	`["ECHO","\ud800\udc00"]`, `["A", -0.0e-0]`, ` [ "A" ] `,
}

// FuzzParseJSON checks the parser against encoding/json on valid UTF-8 input.
func FuzzParseJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := ParseJSON(body)
		if !utf8.Valid(body) {
			return
		}
		v, stdErr := stdDecode(body)
		want, ok := stdCommand(v)
		ok = ok && stdErr == nil
		if (err == nil) != ok {
			t.Fatalf("ParseJSON(%q) error %v, encoding/json ok=%v (%v)", body, err, ok, stdErr)
		}
		if ok && !equalArgs(got, want) {
			t.Fatalf("ParseJSON(%q) = %q, encoding/json %q", body, got, want)
		}
	})
}

// FuzzParseJSONList checks the pipeline parser against encoding/json on valid UTF-8 input.
func FuzzParseJSONList(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := ParseJSONList(body, 0)
		if !utf8.Valid(body) {
			return
		}
		v, stdErr := stdDecode(body)
		arr, ok := v.([]any)
		ok = ok && stdErr == nil && len(arr) > 0
		var want [][]string
		for _, c := range arr {
			cmd, cok := stdCommand(c)
			ok = ok && cok
			want = append(want, cmd)
		}
		if (err == nil) != ok {
			t.Fatalf("ParseJSONList(%q) error %v, encoding/json ok=%v (%v)", body, err, ok, stdErr)
		}
		if !ok {
			return
		}
		for i := range want {
			if !equalArgs(got[i], want[i]) {
				t.Fatalf("ParseJSONList(%q)[%d] = %q, encoding/json %q", body, i, got[i], want[i])
			}
		}
	})
}
