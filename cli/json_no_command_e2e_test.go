package cli

import (
	"testing"
)

// TestJSONNoCommand (found by review): `omni -i INVENTORY -o json`, the
// global flags and no command (a script whose command variable came out
// empty).
//
// Expected (docs/json.md "Errors": with -o json a command that fails
// before it has a report of its own prints the error document, exit 2;
// docs/exit-codes.md: 2 is a usage error; `omni` alone exits 2, and
// `omni -o json service`, a group without its subcommand, prints the
// error document and exits 2): exit 2 and one JSON document on stdout,
// "result": "error", "exit_code": 2.
//
// Observed: exit 0, stdout is the text usage ("usage: omni [<flags>]
// <command> …"), no JSON: a caller reads success and cannot parse stdout.
// Likely cause: cli/app.go Run: only len(args) == 0 is turned into
// ExitUsage; with flags but no command kingpin prints the usage and
// terminates with 0 (app.Terminate -> terminated{0}), which Run returns
// as it is.
func TestJSONNoCommand(t *testing.T) {
	for _, args := range [][]string{
		{"-i", "../examples/inventory.yaml", "-o", "json"},
		{"--output=json"},
	} {
		s, out, errOut := TestStreams("", false)
		code := Run(t.Context(), args, s)
		doc, why := rjOneDoc(out.String())
		if code != ExitUsage || why != "" || doc["result"] != "error" || doc["exit_code"] != float64(ExitUsage) {
			t.Errorf("%v: exit %d, stdout not the error document (%s); want exit 2 and {\"result\": \"error\", \"exit_code\": 2, …}\nstdout:\n%.300s\nstderr:\n%s",
				args, code, why, out, errOut)
		}
	}
}
