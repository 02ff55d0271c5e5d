package config

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEListsEveryOption keeps the README's configuration table true: every flag and
// environment variable appears in it, and it names no flag that does not exist.
func TestREADMEListsEveryOption(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	known := map[string]bool{"config": true, "help": true}
	for _, o := range options() {
		known[o.flag] = true
		if !strings.Contains(readme, "`--"+o.flag+"`") {
			t.Errorf("README does not list --%s", o.flag)
		}
		if o.env != "" && !strings.Contains(readme, "`"+o.env+"`") {
			t.Errorf("README does not list %s", o.env)
		}
	}
	// Rows of the table start with the flag: "| `--name` |".
	for _, line := range strings.Split(readme, "\n") {
		rest, ok := strings.CutPrefix(line, "| `--")
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(rest, "`")
		if !known[name] {
			t.Errorf("README lists --%s, which is not a flag", name)
		}
	}
}
