package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestJSONUsageErrors: with -o json, a command line omni cannot parse (a
// missing argument, an unknown flag) prints docs/json.md's error document
// on stdout, as every other usage error does, and exits 2; the words go to
// stderr too. (It printed nothing on stdout.)
func TestJSONUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-i", "../examples/inventory.yaml", "-o", "json", "service", "restart", "primary-bastion"},
		{"-i", "../examples/inventory.yaml", "service", "restart", "primary-bastion", "api-gateway", "--bogus", "-o", "json"},
		{"-i", "../examples/inventory.yaml", "--output=json", "service", "frobnicate"},
	} {
		s, out, errOut := TestStreams("", false)
		code := Run(t.Context(), args, s)
		var doc struct {
			Result   string `json:"result"`
			ExitCode int    `json:"exit_code"`
			Error    string `json:"error"`
		}
		if err := json.Unmarshal(out.Bytes(), &doc); err != nil || code != ExitUsage || doc.Result != "error" || doc.ExitCode != ExitUsage || doc.Error == "" {
			t.Errorf("%v: exit %d, stdout %q (%v)", args, code, out, err)
		}
		if !strings.Contains(errOut.String(), "omni: ") {
			t.Errorf("%v: stderr %q", args, errOut)
		}
	}
}
