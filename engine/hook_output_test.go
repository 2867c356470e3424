package engine

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

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

// TestHookOutputIsCleaned: what a failed hook's error quotes of its
// output cannot move the operator's cursor or recolour the terminal
// (control characters become '?', as in a log tail), and its cut does not
// split a character.
func TestHookOutputIsCleaned(t *testing.T) {
	got := lastOutput([]byte("\x1b[2J\x1b]0;pwned\x07boom\r\x00done"))
	if strings.ContainsFunc(got, func(r rune) bool { return r < 0x20 || r == 0x7f }) || !strings.Contains(got, "boom") {
		t.Errorf("quoted %q", got)
	}
	got = lastOutput([]byte(strings.Repeat("é", hookOutputMax) + "x"))
	if !utf8.ValidString(got) {
		t.Errorf("quoted output cut inside a character: %q", got[:8])
	}
}

// TestSnippetCutOnCharacter (found by review): a hook's snippet, cut at
// snippetMax bytes, was cut inside a multi-byte character; it is cut
// before it now.
func TestSnippetCutOnCharacter(t *testing.T) {
	for _, run := range []string{"echo " + strings.Repeat("é", 40), strings.Repeat("€", 30), "x" + strings.Repeat("é", 40)} {
		got := snippet(run)
		if !utf8.ValidString(got) || !strings.HasSuffix(got, " …") || len(got) > snippetMax+len(" …") {
			t.Errorf("snippet(%q) = %q", run, got)
		}
	}
}
