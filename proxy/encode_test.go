package proxy

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/redisgate/redisgate/resp"
)

// FuzzReplyJSON checks that every reply the RESP reader accepts becomes valid JSON whose
// strings decode back to the reply's bytes.
func FuzzReplyJSON(f *testing.F) {
	for _, s := range []string{"+OK\r\n", "*2\r\n$1\r\na\r\n:1\r\n", "$-1\r\n", "*1\r\n*1\r\n-E\r\n", "$3\r\n\xff\x00\"\r\n", "*-1\r\n", ":x\r\n"} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, in []byte, b64 bool) {
		raw, err := resp.ReadReply(bufio.NewReader(bytes.NewReader(in)), nil, 1<<16)
		if err != nil {
			return
		}
		out, _, err := appendEntry(nil, raw, b64)
		if err != nil {
			return // only malformed integers are refused
		}
		var v map[string]any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("reply %q gave invalid JSON %q: %v", raw, out, err)
		}
		if len(v) != 1 {
			t.Fatalf("entry %q has %d keys", out, len(v))
		}
		kind, data, _, _, _ := resp.Next(raw)
		if kind == resp.Bulk && data != nil && b64 {
			got, err := base64.StdEncoding.DecodeString(v["result"].(string))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("base64 of %q decoded to %q, %v", data, got, err)
			}
		}
		if kind == resp.Bulk && data != nil && !b64 && utf8.Valid(data) && bytes.IndexFunc(data, func(r rune) bool { return r < 0x20 }) < 0 {
			if v["result"].(string) != string(data) {
				t.Fatalf("string %q came back as %q", data, v["result"])
			}
		}
	})
}
