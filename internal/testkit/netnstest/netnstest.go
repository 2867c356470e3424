// Package netnstest gives tests network namespaces of their own: each
// joined to the test's (root) namespace by a veth pair on a /30 of
// 10.x addresses, with no other route. The test reaches every namespace;
// a namespace reaches the root namespace's end of its own pair and
// nothing else, so two namespaces cannot reach each other: a host that
// cannot reach a service omni itself can. Everything created is deleted
// when the test ends. It needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN),
// which the CI has; without it the test fails, saying so.
package netnstest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// NS is one namespace and its veth pair.
type NS struct {
	Name string // for `ip netns exec` and sshtest.Options.Netns
	Addr string // the namespace's end of the pair: reach it here
	Peer string // the root namespace's end of the pair
}

// slots are the /30 subnets of this test binary (see New): at most 3
// namespaces live at once; a slot is free again once its namespace is
// deleted, so `go test -count=N` and later tests reuse it.
var slots struct {
	sync.Mutex
	used [4]bool // 1..3
}

// slot takes a free slot, 0 when all 3 are taken.
func slot() int {
	slots.Lock()
	defer slots.Unlock()
	for n := 1; n <= 3; n++ {
		if !slots.used[n] {
			slots.used[n] = true
			return n
		}
	}
	return 0
}

func release(n int) {
	slots.Lock()
	slots.used[n] = false
	slots.Unlock()
}

// New creates a namespace with loopback up and a veth pair to the root
// namespace: Peer/30 on the root side, Addr/30 inside, no default route.
// Tests running at the same time in different test binaries get
// different names and subnets (they are derived from the process ID).
func New(t testing.TB) *NS {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("netnstest: network namespaces need root (the CI runs the tests as root)")
	}
	n := slot()
	if n == 0 {
		t.Fatalf("netnstest: at most 3 namespaces at once per test binary")
	}
	// Released last (cleanups run in reverse): after the namespace and the
	// pair are deleted.
	t.Cleanup(func() { release(n) })
	pid := os.Getpid()
	// 10.(100+pid%100).(pid/100%60*4+n).{1,2}: a /30 per namespace.
	second := 100 + pid%100
	third := (pid/100%60)*4 + n
	ns := &NS{
		Name: fmt.Sprintf("omni-t%d-%d", pid, n),
		Peer: fmt.Sprintf("10.%d.%d.1", second, third),
		Addr: fmt.Sprintf("10.%d.%d.2", second, third),
	}
	host := fmt.Sprintf("ot%dh%d", pid%1000000, n) // interface names: 15 bytes at most
	inner := fmt.Sprintf("ot%dn%d", pid%1000000, n)
	run(t, "ip", "netns", "add", ns.Name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns.Name).Run() })
	run(t, "ip", "link", "add", host, "type", "veth", "peer", "name", inner)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", host).Run() }) // deletes its peer too
	run(t, "ip", "link", "set", inner, "netns", ns.Name)
	run(t, "ip", "addr", "add", ns.Peer+"/30", "dev", host)
	run(t, "ip", "link", "set", host, "up")
	ns.Exec(t, "ip", "link", "set", "lo", "up")
	ns.Exec(t, "ip", "addr", "add", ns.Addr+"/30", "dev", inner)
	ns.Exec(t, "ip", "link", "set", inner, "up")
	return ns
}

// Exec runs a command in the namespace and fails the test if it fails.
func (ns *NS) Exec(t testing.TB, name string, args ...string) string {
	t.Helper()
	return run(t, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("netnstest: %s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
