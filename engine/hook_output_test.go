package engine

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/inventory"
)

// loudHookBytes is what a loud hook prints (svcConn: hook-loud).
const loudHookBytes = 20 << 20

// loudHook plays a hook that prints loudHookBytes, in chunks, and fails.
func (c *svcConn) loudHook(stdout io.Writer) (int, error) {
	chunk := bytes.Repeat([]byte("x"), 32<<10)
	for n := 0; n < loudHookBytes; n += len(chunk) {
		stdout.Write(chunk)
	}
	io.WriteString(stdout, "\nthe end\n")
	return 3, nil
}

// TestHookOutputIsBounded: a hook that prints without end until its
// timeout (here 20 MB) costs omni a bounded buffer, on the machine running
// omni (a real sh) as over a host's connection, and its error still quotes
// the end of what it printed (was: all of it collected in memory).
func TestHookOutputIsBounded(t *testing.T) {
	ctx := context.Background()
	code, out, err := runLocal(ctx, "head -c 20000000 /dev/zero | tr '\\0' x; echo; echo the end; exit 3")
	if err != nil || code != 3 {
		t.Fatalf("local hook: code %d, err %v", code, err)
	}
	if len(out) > hookOutputKeep || !strings.HasSuffix(string(out), "\nthe end\n") {
		t.Errorf("local hook: kept %d bytes (at most %d), ending %q", len(out), hookOutputKeep, out[max(0, len(out)-20):])
	}

	inv, err := inventory.Parse("inventory.yaml", []byte(stepsInventory))
	if err != nil {
		t.Fatal(err)
	}
	r := &execution{ctx: ctx, env: Env{Inventory: inv, Connector: svcConnector{&svcConn{}}}}
	r.conns = newConnSet(r.connect)
	svc, _ := inv.Service("web")
	code, out, err = r.runRemoteHook(ctx, svc, "a", "hook-loud OMNI_HOOK=x")
	if err != nil || code != 3 {
		t.Fatalf("remote hook: code %d, err %v", code, err)
	}
	if len(out) > hookOutputKeep || !strings.HasSuffix(string(out), "\nthe end\n") {
		t.Errorf("remote hook: kept %d bytes (at most %d)", len(out), hookOutputKeep)
	}
	if got := lastOutput(out); !strings.HasSuffix(got, "x the end") || len(got) > hookOutputMax+len("…") {
		t.Errorf("quoted output %q", got)
	}
}
