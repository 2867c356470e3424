package manager

import (
	"context"
	"testing"

	"github.com/omni-fleet/omni/inventory"
)

// fakeRunner records the commands it is given and answers each with the
// next canned result (the last one repeats). It only serves the tests of
// the exact command strings and of the parsing of canned output; the
// command manager's scripts are also run by a real shell in
// command_local_test.go.
type fakeRunner struct {
	results []Result
	cmds    []string
}

func (f *fakeRunner) Run(ctx context.Context, cmd string) (Result, error) {
	f.cmds = append(f.cmds, cmd)
	if len(f.results) == 0 {
		return Result{}, nil
	}
	res := f.results[0]
	if len(f.results) > 1 {
		f.results = f.results[1:]
	}
	return res, nil
}

func newManager(t *testing.T, host *inventory.Host, svc *inventory.Service) Manager {
	t.Helper()
	m, err := New(Target{Host: host, Service: svc})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
