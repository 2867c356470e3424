package netnstest

import (
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestNamespacesReachTheRootNotEachOther: the root namespace reaches a
// listener in each namespace; a namespace has no route to another's
// address; everything is deleted at the end (checked by a subtest's
// cleanup).
func TestNamespacesReachTheRootNotEachOther(t *testing.T) {
	var names []string
	t.Run("pair", func(t *testing.T) {
		a, b := New(t), New(t)
		names = append(names, a.Name, b.Name)
		if out := a.Exec(t, "ip", "-br", "addr"); !strings.Contains(out, a.Addr+"/30") {
			t.Fatalf("namespace %s has not its address %s:\n%s", a.Name, a.Addr, out)
		}
		for _, ns := range []*NS{a, b} {
			c, err := net.DialTimeout("tcp", net.JoinHostPort(ns.Addr, "9"), 2*time.Second)
			if err == nil {
				c.Close()
			} else if !strings.Contains(err.Error(), "refused") {
				t.Fatalf("dialling %s from the root namespace: %v (want connection refused: the host answers)", ns.Addr, err)
			}
		}
		out, err := exec.Command("ip", "netns", "exec", a.Name, "bash", "-c", "echo > /dev/tcp/"+b.Addr+"/9").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "Network is unreachable") {
			t.Fatalf("namespace %s reached %s (want network unreachable): %v\n%s", a.Name, b.Addr, err, out)
		}
	})
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.Contains(string(out), n) {
			t.Errorf("namespace %s left behind:\n%s", n, out)
		}
	}
}
