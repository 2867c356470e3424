package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestQuickStart runs the README's first command, ./scripts/try.sh, on a
// clean checkout of this repository's HEAD, and checks that the spec's
// example outputs appear and that the lab leaves no process behind.
func TestQuickStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds omni and brings a lab up: not in -short")
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "./scripts/try.sh") {
		t.Fatal("the README no longer names ./scripts/try.sh as its first command; update this test")
	}
	checkout := filepath.Join(t.TempDir(), "omni")
	if out, err := exec.Command("git", "clone", "--quiet", "--no-hardlinks", ".", checkout).CombinedOutput(); err != nil {
		t.Fatalf("a clean checkout needs a git repository: %v\n%s", err, out)
	}
	tmp := t.TempDir()
	cmd := exec.Command("./scripts/try.sh")
	cmd.Dir = checkout
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "NO_COLOR=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(5 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("try.sh did not finish in 5 minutes:\n%s", out.String())
	}
	if err != nil {
		t.Fatalf("try.sh: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`Restarting api-gateway on primary-bastion\.\.\.
Service restarted successfully!

Service Status:
Name:             api-gateway
Host:             primary-bastion
Status:           Running
Uptime:           0m \d+s
Health Check:     Passed
`),
		regexp.MustCompile(`Stopping container-runtime on worker1\.\.\.
This will affect all running containers on this host\.

Service stopped successfully!

Service Status:
Name:             container-runtime
Host:             worker1
Status:           Stopped
Last Active:      \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC
`),
		regexp.MustCompile(`Starting container-runtime on worker1\.\.\.
Service started successfully!

Service Status:
Name:             container-runtime
Host:             worker1
Status:           Running
Uptime:           0m \d+s
Health Check:     Passed
`),
	} {
		if !want.MatchString(got) {
			t.Errorf("try.sh output lacks\n%s\n--- output ---\n%s", want, got)
		}
	}
	// The lab is gone when the script ends: it prints no "Try:" commands
	// for it, and says how to bring up one that stays.
	if strings.Contains(got, "Try:") || !strings.Contains(got, "The lab is down and its directory removed") ||
		!strings.Contains(got, "./omni lab up --from examples/inventory.yaml") {
		t.Errorf("try.sh should not offer commands for the lab it removed, and should say how to bring one up:\n%s", got)
	}
	// Nothing the lab started may outlive it: no process whose environment
	// or command line names the temporary directory.
	if left := processesMentioning(tmp); len(left) > 0 {
		t.Fatalf("processes left behind: %v", left)
	}
}

// processesMentioning lists PIDs whose command line or environment
// contains s.
func processesMentioning(s string) []string {
	var pids []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		for _, f := range []string{"cmdline", "environ"} {
			b, err := os.ReadFile(filepath.Join("/proc", e.Name(), f))
			if err == nil && bytes.Contains(b, []byte(s)) {
				pids = append(pids, e.Name())
				break
			}
		}
	}
	return pids
}
