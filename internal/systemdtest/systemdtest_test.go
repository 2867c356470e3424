package systemdtest

import (
	"os"
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
