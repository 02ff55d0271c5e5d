package rest

import "testing"

// TestReadOnlyFromTheCommandTable checks that the commands retried after a possible send are
// the command table's retry-safe ones: reads (read-only scripts included), never writes, scripts that may write or blocking commands.
func TestReadOnlyFromTheCommandTable(t *testing.T) {
	for name, want := range map[string]bool{
		"GET": true, "get": true, "MGET": true, "HGETALL": true, "KEYS": true, "ZRANGE": true,
		"SET": false, "INCR": false, "DEL": false, "EVAL": false, "EVAL_RO": true, "BLPOP": false, "PUBLISH": false,
		"NOSUCHCOMMAND": false,
	} {
		if got := readOnly(command{[]byte(name), []byte("k")}); got != want {
			t.Errorf("readOnly(%s) = %v, want %v", name, got, want)
		}
	}
}
