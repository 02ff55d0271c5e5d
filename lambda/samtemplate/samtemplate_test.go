package samtemplate_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/redisgate/redisgate/lambda/samtemplate"
)

// template is the repository's SAM template.
var template = filepath.Join("..", "..", "sam-template.yaml")

func want() samtemplate.Want {
	return samtemplate.Want{
		Runtime:     "provided.al2023",
		Handler:     "bootstrap",
		Arch:        "arm64",
		BuildMethod: []string{"go1.x", "makefile"},
		Env:         []string{"REDISGATE_URL", "REDISGATE_TOKEN"},
	}
}

// TestRepositoryTemplate checks sam-template.yaml.
func TestRepositoryTemplate(t *testing.T) {
	if errs := samtemplate.Check(template, want()); len(errs) > 0 {
		t.Errorf("sam-template.yaml: %v", errors.Join(errs...))
	}
}

// TestCatches breaks the template in one place per case and expects the checker to say where.
func TestCatches(t *testing.T) {
	src, err := os.ReadFile(template)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, old, new, wantErr string
	}{
		{"no transform", "Transform: AWS::Serverless-2016-10-31", "Transform: AWS::Include", "Transform"},
		{"runtime", "Runtime: provided.al2023", "Runtime: go1.x", "Runtime go1.x"},
		{"handler", "Handler: bootstrap", "Handler: main", "Handler main"},
		{"architecture", "      - arm64", "      - x86_64", "want arm64"},
		{"missing code", "CodeUri: cmd/hello/", "CodeUri: cmd/nothing/", "CodeUri cmd/nothing/"},
		{"code not a command", "CodeUri: cmd/hello/", "CodeUri: lambda/rest/", "Go main package"},
		{"bad ref", "ApiId: !Ref HttpApi", "ApiId: !Ref HttpAPI", `"HttpAPI" names no parameter`},
		{"bad getatt", "!GetAtt HelloFunctionUrl.FunctionUrl", "!GetAtt HelloFunctionURL.FunctionUrl", `"HelloFunctionURL" names no`},
		{"bad sub", "https://${HttpApi}.execute-api", "https://${TheApi}.execute-api", `"TheApi" names no`},
		{"token echoed", "    NoEcho: true\n", "", "NoEcho"},
		{"unused parameter", "HELLO_RATE: !Ref HelloRate", "HELLO_RATE: 1/5s", "HelloRate is never referenced"},
		{"typo in property", "MemorySize: 128", "MemorySise: 128", `unknown property "MemorySise"`},
		{"no build method", "      BuildMethod: go1.x\n      BuildProperties:\n        TrimGoPath: true\n    Properties:\n      Description: hello", "    Properties:\n      Description: hello", "BuildMethod"},
		{"no token env", "        REDISGATE_TOKEN: !Ref RedisgateToken\n", "", "REDISGATE_TOKEN is not set"},
		{"bad path", "Path: /hello", "Path: hello", `Path "hello"`},
		{"bad method", "Method: GET\n\n  Top10Function", "Method: FETCH\n\n  Top10Function", `Method "FETCH"`},
		{"top-level typo", "Outputs:", "Output:", `unknown top-level key "Output"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(string(src), tt.old) {
				t.Fatalf("template has no %q to break", tt.old)
			}
			broken := strings.Replace(string(src), tt.old, tt.new, 1)
			errs := samtemplate.CheckSource([]byte(broken), filepath.Dir(template), want())
			if joined := errors.Join(errs...); joined == nil || !strings.Contains(joined.Error(), tt.wantErr) {
				t.Errorf("errors %v, want one containing %q", joined, tt.wantErr)
			}
		})
	}
}

// TestParseShortForms expands the intrinsic functions' short forms.
func TestParseShortForms(t *testing.T) {
	got, err := samtemplate.Parse([]byte(`
A: !Ref P
B: !GetAtt R.Arn
C: !Sub "x-${P}"
D: !If [Cond, !Ref P, !Ref "AWS::NoValue"]
E: !Join [",", [a, b]]
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"A": map[string]any{"Ref": "P"},
		"B": map[string]any{"Fn::GetAtt": []any{"R", "Arn"}},
		"C": map[string]any{"Fn::Sub": "x-${P}"},
		"D": map[string]any{"Fn::If": []any{"Cond", map[string]any{"Ref": "P"}, map[string]any{"Ref": "AWS::NoValue"}}},
		"E": map[string]any{"Fn::Join": []any{",", []any{"a", "b"}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse = %#v\nwant %#v", got, want)
	}
	for _, bad := range []string{"A: !GetAtt NoDot", "[1, 2]", "A: 1\nA: 2"} {
		if _, err := samtemplate.Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
