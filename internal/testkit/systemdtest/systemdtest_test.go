package systemdtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestBoot boots a host and checks that it is what the tests need: systemd
// as PID 1, running, on a root of its own (this machine's /tmp untouched),
// with a user who has passwordless sudo.
func TestBoot(t *testing.T) {
	marker := filepath.Join(os.TempDir(), "systemdtest-marker-"+t.Name())
	if err := os.WriteFile(marker, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(marker)

	h := Boot(t, Options{Name: "omni-sd-boot", Addr: "127.0.9.1", Users: []string{"deploy"}})
	if got := strings.TrimSpace(h.Run(t, "cat /proc/1/comm; systemctl is-system-running")); got != "systemd\nrunning" {
		t.Fatalf("PID 1 and state: %q", got)
	}
	if comm, _ := os.ReadFile("/proc/" + strconv.Itoa(h.PID) + "/comm"); strings.TrimSpace(string(comm)) != "systemd" {
		t.Errorf("host PID %d is %q, want systemd", h.PID, comm)
	}
	if out := h.Run(t, "ls /tmp | wc -l; test -e "+marker+" || echo own-tmp"); !strings.Contains(out, "own-tmp") {
		t.Errorf("the host sees this machine's /tmp: %q", out)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("this machine's /tmp lost a file: %v", err)
	}
	if out := h.Run(t, "su -s /bin/sh deploy -c 'sudo -n id -u'"); strings.TrimSpace(out) != "0" {
		t.Errorf("sudo -n as deploy: %q", out)
	}
}

// TestBootSaysWhyNot: where the machine cannot boot a host, Boot fails the
// test and says why, plainly. Run as an unprivileged user (this test
// binary again, under setpriv), Boot must fail with the reason.
func TestBootSaysWhyNot(t *testing.T) {
	if os.Getenv("SYSTEMDTEST_AS_NOBODY") == "1" {
		Boot(t, Options{Name: "omni-sd-never", Addr: "127.0.9.2"})
		return
	}
	if os.Geteuid() != 0 {
		t.Fatal("this test drops root to show the failure: run it as root")
	}
	cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		os.Args[0], "-test.run=^TestBootSaysWhyNot$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SYSTEMDTEST_AS_NOBODY=1")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "this machine cannot boot a systemd host: booting systemd in namespaces needs root") ||
		!strings.Contains(string(out), "--- FAIL: TestBootSaysWhyNot") {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
}
