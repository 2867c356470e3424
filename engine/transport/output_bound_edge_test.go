package transport_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
)

// TestOutputBoundSameInShellAndOwnSession: MaxOutput+1 bytes of stdout
// fail in the long-lived shell as in a session of its own. The shell's
// reader checked the bound only while no mark was in its buffer: the
// bytes that arrived with the mark were never counted. (Found by a
// review.)
func TestOutputBoundSameInShellAndOwnSession(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.193.41"})
	ctx := testContext(t)
	for _, extra := range []int{1, 100, 16 << 10} {
		cmd := fmt.Sprintf("head -c %d /dev/zero", transport.MaxOutput+extra)
		shell := connect(t, newPool(t, transport.Options{}), srv.Endpoint("worker1"))
		own := connect(t, newPool(t, transport.Options{}), srv.Endpoint("worker1"))
		rs, errShell := shell.Run(ctx, cmd)
		ro, errOwn := own.RunOnce(ctx, cmd)
		t.Logf("MaxOutput+%d: shell %d bytes, %v; own session %d bytes, %v", extra, len(rs.Stdout), errShell, len(ro.Stdout), errOwn)
		if (errShell == nil) != (errOwn == nil) {
			t.Errorf("MaxOutput+%d bytes: the shell and a session of its own disagree", extra)
		}
	}
}

// TestRunEndsKeepsTheEndsOfAFlood: RunEnds and RunOnceEnds, for a command
// whose output passes MaxOutput on both streams, keep the exact first and
// last bytes of each, with a cutnote.Note between them that counts what was
// left out, and the command's exit code; the connection's shell still
// works after it. Just at MaxOutput, nothing is cut.
func TestRunEndsKeepsTheEndsOfAFlood(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.193.42"})
	ctx := testContext(t)
	var want strings.Builder
	for i := 1; i <= 4_500_000; i++ {
		want.WriteString(strconv.Itoa(i) + "\n")
	}
	full := want.String() // 36.9 MB
	note := regexp.MustCompile("\n… \\((\\d+) bytes of output not kept\\) …\n")
	cmd := "seq 1 4500000; seq 1 4500000 >&2; exit 3"
	check := func(what string, got []byte) {
		t.Helper()
		m := note.FindSubmatchIndex(got)
		if m == nil {
			t.Errorf("%s: %d bytes, no note of what was cut", what, len(got))
			return
		}
		head, tail := string(got[:m[0]]), string(got[m[1]:])
		n, _ := strconv.Atoi(string(got[m[2]:m[3]]))
		if !strings.HasPrefix(full, head) || !strings.HasSuffix(full, tail) || len(head) < 1<<20 || len(tail) < 1<<20 ||
			len(head)+n+len(tail) != len(full) || len(got) > 5<<20 {
			t.Errorf("%s: head %d bytes (a prefix: %v), tail %d (a suffix: %v), %d cut, of %d", what,
				len(head), strings.HasPrefix(full, head), len(tail), strings.HasSuffix(full, tail), n, len(full))
		}
	}
	shell := connect(t, newPool(t, transport.Options{}), srv.Endpoint("worker1"))
	own := connect(t, newPool(t, transport.Options{}), srv.Endpoint("worker1"))
	for name, run := range map[string]func(context.Context, string) (transport.Result, error){
		"RunEnds": shell.RunEnds, "RunOnceEnds": own.RunOnceEnds} {
		res, err := run(ctx, cmd)
		if err != nil || res.ExitCode != 3 {
			t.Fatalf("%s: exit %d, %v", name, res.ExitCode, err)
		}
		check(name+" stdout", res.Stdout)
		check(name+" stderr", res.Stderr)
		exact := fmt.Sprintf("head -c %d /dev/zero", transport.MaxOutput)
		if res, err := run(ctx, exact); err != nil || len(res.Stdout) != transport.MaxOutput {
			t.Errorf("%s: MaxOutput bytes: %d kept, %v", name, len(res.Stdout), err)
		}
		if res, err := run(ctx, "echo after"); err != nil || string(res.Stdout) != "after\n" {
			t.Errorf("%s: after the flood: %q, %v", name, res.Stdout, err)
		}
	}
}
