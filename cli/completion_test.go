package cli

import (
	"context"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
)

// complete runs `omni --completion-bash ARGS...` and returns the
// candidates. kingpin prints them on the process's stdout, so the test
// swaps os.Stdout for a pipe while it runs (these tests are not parallel).
func complete(t *testing.T, args ...string) []string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = w
	s, _, _ := TestStreams("", false)
	code := Run(context.Background(), append([]string{"--completion-bash"}, args...), s)
	os.Stdout = saved
	w.Close()
	out, _ := io.ReadAll(r)
	if code != 0 {
		t.Fatalf("completion of %v: exit %d", args, code)
	}
	return strings.Fields(string(out))
}

func TestCompletionFromTheInventory(t *testing.T) {
	inv := "../examples/inventory.yaml"
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-i", inv, "service"}, "start stop restart logs status history"},
		{[]string{"-i", inv, "service", "restart"}, // hosts, then roles
			"primary-bastion secondary-bastion worker1 worker2 worker3 monitor1 all bastion worker monitoring"},
		{[]string{"-i", inv, "service", "restart", "wor"}, "worker1 worker2 worker3 worker"},
		{[]string{"-i", inv, "service", "stop", "worker1"}, // the services worker1 runs
			"orchestrator-core network-agent container-runtime storage-agent"},
		{[]string{"-i", inv, "service", "logs", "primary-bastion", "a"}, "api-gateway auth-service"},
	}
	for _, c := range cases {
		if got := strings.Join(complete(t, c.args...), " "); got != c.want {
			t.Errorf("complete %v\n got %s\nwant %s", c.args, got, c.want)
		}
	}
	// OMNI_INVENTORY works as -i does.
	t.Setenv("OMNI_INVENTORY", inv)
	if got := strings.Join(complete(t, "service", "start", "mon"), " "); got != "monitor1 monitoring" {
		t.Errorf("with OMNI_INVENTORY: %s", got)
	}
	// No inventory: nothing to offer, and no error text in the shell.
	t.Setenv("OMNI_INVENTORY", "/nonexistent.yaml")
	if got := complete(t, "service", "start", ""); len(got) != 0 {
		t.Errorf("without an inventory: %v", got)
	}
}

func TestCompletionScriptsAndManPage(t *testing.T) {
	for shell, want := range map[string]string{
		"bash": "complete -F _omni_bash_autocomplete",
		"zsh":  "#compdef omni",
	} {
		s, out, _ := TestStreams("", false)
		if code := Run(context.Background(), []string{"completion", shell}, s); code != 0 || !strings.Contains(out.String(), want) ||
			!strings.Contains(out.String(), "--completion-bash") {
			t.Errorf("completion %s: exit %d\n%s", shell, code, out)
		}
	}
	s, out, _ := TestStreams("", false)
	if code := Run(context.Background(), []string{"man"}, s); code != 0 || !strings.HasPrefix(out.String(), ".TH omni 1") ||
		!strings.Contains(out.String(), "service restart") {
		t.Fatalf("man: exit %d\n%s", code, out)
	}
}

func TestVersion(t *testing.T) {
	Version, Commit = "v1.2.3", "abc1234"
	defer func() { Version, Commit = "", "" }()
	s, out, _ := TestStreams("", false)
	if code := Run(context.Background(), []string{"--version"}, s); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !regexp.MustCompile(`^omni v1\.2\.3 \(commit abc1234, go1\.\d+`).MatchString(out.String()) {
		t.Fatalf("--version printed %q", out)
	}
}
