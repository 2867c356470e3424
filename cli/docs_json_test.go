package cli

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestJSONDocGraphExampleIsRealOutput: the graph example of docs/json.md
// is what `omni -i examples/inventory.yaml -o json inventory graph
// network-agent` prints, in the same order.
func TestJSONDocGraphExampleIsRealOutput(t *testing.T) {
	doc, err := os.ReadFile("../docs/json.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	section := strings.Index(text, "## `omni inventory graph [SERVICE]`")
	if section < 0 {
		t.Fatal("docs/json.md has no inventory graph section")
	}
	text = text[section:]
	start := strings.Index(text, "```json\n") + len("```json\n")
	example := text[start : start+strings.Index(text[start:], "```")]

	s, out, errOut := TestStreams("", false)
	if code := Run(context.Background(), []string{"-i", "../examples/inventory.yaml", "-o", "json", "inventory", "graph", "network-agent"}, s); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var want, got any
	if err := json.Unmarshal([]byte(example), &got); err != nil {
		t.Fatalf("the example is not JSON: %v\n%s", err, example)
	}
	if err := json.Unmarshal(out.Bytes(), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("docs/json.md's graph example differs from the real output:\n%s\nreal:\n%s", example, out)
	}
}
