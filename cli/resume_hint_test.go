package cli

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestResumeCommandPastes: "To finish the job" is a command to paste. A
// shell gives omni back every word as it was (a glob target is not
// expanded against the files at hand), and the command is the same run:
// the inventory, playbooks and registry it used (--resume reads the left
// hosts there), --cascade and --no-deps (what is done on each host), and
// the pacing flags that were given.
func TestResumeCommandPastes(t *testing.T) {
	g := &globalOptions{Inventory: "fleet prod.yaml", Playbooks: "pb", Registry: "/var/lib/omni/r.db", SSHConfig: "lab.conf"}
	opts := &serviceOptions{Action: "restart", Host: "host[1-4]", Service: "demo", Cascade: true, NoDeps: true,
		LockTimeout: time.Minute, Forks: 5, Rolling: true, RollingSet: true, Batch: "25%", MaxFailures: "0", MinReady: 30 * time.Second}
	got := resumeCommand(g, opts)
	want := []string{"omni", "-i", "fleet prod.yaml", "--playbooks", "pb", "--registry", "/var/lib/omni/r.db",
		"--ssh-config", "lab.conf", "service", "restart", "host[1-4]", "demo", "--cascade", "--no-deps", "--lock-timeout=1m0s", "--forks=5", "--rolling",
		"--batch=25%", "--min-ready=30s", "--resume"}
	// What a shell makes of it, in a directory where the glob matches.
	dir := t.TempDir()
	for _, f := range []string{"host1", "host2"} {
		if err := exec.Command("touch", dir+"/"+f).Run(); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("sh", "-c", `for w in `+got+`; do printf '%s\n' "$w"; done`)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if words := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"); strings.Join(words, "|") != strings.Join(want, "|") {
		t.Errorf("%s\nreads back as %q\nwant %q", got, words, want)
	}
	// The defaults add nothing.
	plain := resumeCommand(&globalOptions{Inventory: "inventory.yaml"}, &serviceOptions{Action: "restart", Host: "worker",
		Service: "container-runtime", Forks: 20, Batch: "1", MaxFailures: "0", MinReady: 5 * time.Second})
	if plain != "omni service restart worker container-runtime --resume" {
		t.Errorf("plain: %q", plain)
	}
}
