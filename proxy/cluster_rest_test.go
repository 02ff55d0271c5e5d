package proxy_test

import (
	"testing"

	"github.com/redisgate/redisgate/backend"
	"github.com/redisgate/redisgate/internal/redistest"
)

// TestRESTTablesCluster runs the exact-body REST tables (rest_test.go) against a database
// served from one Redis Cluster (3 primaries with a replica each, started once for them all
// and flushed between tables), in strong and eventual modes: the keys of each table fall in
// several slots, so single commands, pipelines and base64/RESP2 answers are routed and
// reassembled across primaries and must still match byte for byte. The tables' transactions
// keep to one key; the cross-slot ones are checked in cluster/ and by the SDK suite.
func TestRESTTablesCluster(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 1)
	tables := []struct {
		name string
		f    func(*testing.T, *gateway)
	}{
		{"PathCommands", testPathCommands},
		{"JSONCommands", testJSONCommands},
		{"PipelineAndMultiExec", testPipelineAndMultiExec},
		{"Base64", testBase64},
		{"RESP2Format", testRESP2Format},
	}
	for _, consistency := range []backend.Mode{backend.Strong, backend.Eventual} {
		m := mode{cluster: rc, consistency: consistency}
		for _, tb := range tables {
			t.Run(m.String()+"/"+tb.name, func(t *testing.T) {
				for _, p := range rc.Primaries {
					p.MustDo("FLUSHALL")
				}
				g := startGateway(t, withMode(m))
				tb.f(t, g)
				if st := g.backend.Stats(); len(st.Nodes) < len(rc.Primaries) {
					t.Errorf("backend stats %+v: want the %d primaries", st, len(rc.Primaries))
				}
			})
		}
	}
}
