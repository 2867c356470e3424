package cli

import (
	"context"
	"fmt"
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
	if code := Run(context.Background(), []string{"man"}, s); code != 0 || !strings.HasPrefix(out.String(), `.TH "OMNI" 1 `) ||
		!strings.Contains(out.String(), "service restart") {
		t.Fatalf("man: exit %d\n%s", code, out)
	}
	// NAME is "omni \- summary", as man(7) and apropos want; the
	// sections a man page has are there, every exit code in EXIT STATUS.
	page := out.String()
	for _, want := range []string{
		"\n.SH NAME\nomni \\- manage the services of a fleet of hosts over SSH",
		"\n.SH \"EXIT STATUS\"\n", "\n.SH ENVIRONMENT\n", "\n.SH EXAMPLES\n",
		"\n.B OMNI_INVENTORY\n", "\n.B omni service status all\n",
		"\\fB--no-deps\\fR", "\\fB--[no\\-]rolling\\fR",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("man page has no %q", want)
		}
	}
	exit := page[strings.Index(page, "EXIT STATUS"):strings.Index(page, ".SH ENVIRONMENT")]
	for _, code := range []int{ExitOK, ExitFailed, ExitUsage, ExitPartial, ExitUnreachable, ExitRefused, ExitInterrupted} {
		if !strings.Contains(exit, fmt.Sprintf("\n.B %d\n", code)) {
			t.Errorf("EXIT STATUS has no %d", code)
		}
	}
}

// TestHelpShowsNoDepsAsTyped: a bool flag named no-X shows as --no-X, not
// kingpin's --[no-]no-X; only --rolling, whose negation means something,
// keeps the [no-] form.
func TestHelpShowsNoDepsAsTyped(t *testing.T) {
	s, out, _ := TestStreams("", false)
	if code := Run(context.Background(), []string{"service", "start", "--help"}, s); code != 0 {
		t.Fatalf("exit %d", code)
	}
	help := out.String()
	if !regexp.MustCompile(`(?m)^\s+--no-deps\s`).MatchString(help) || strings.Contains(help, "[no-]no-deps") {
		t.Errorf("help should show --no-deps:\n%s", help)
	}
	if strings.Contains(help, "--[no-]yes") || !strings.Contains(help, "--[no-]rolling") {
		t.Errorf("only --rolling is negatable in help:\n%s", help)
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

// TestServiceArgumentIsATarget: help names the first argument of the
// service commands TARGET (it takes a host, a role, a glob, a list or
// all), and completion still offers the inventory's targets for it.
func TestServiceArgumentIsATarget(t *testing.T) {
	for _, action := range []string{"start", "stop", "restart", "logs", "status", "history"} {
		s, out, _ := TestStreams("", false)
		if code := Run(context.Background(), []string{"service", action, "--help"}, s); code != 0 {
			t.Fatalf("%s --help: exit %d", action, code)
		}
		if help := out.String(); strings.Contains(help, "<HOST>") || !strings.Contains(help, "TARGET>") {
			t.Errorf("service %s --help should name TARGET, not HOST:\n%s", action, help)
		}
	}
}
