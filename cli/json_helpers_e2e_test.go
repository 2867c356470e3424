package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os/exec"
	"testing"
	"time"
)

// rjRun runs the real omni binary with args (stdin and stdout not
// terminals), bounded by d, and returns what it wrote and its exit code.
func rjRun(t *testing.T, d time.Duration, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	bin := buildOmni(t)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--ssh-config", "none"}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.Run()
	code = -1
	if cmd.ProcessState != nil {
		code = cmd.ProcessState.ExitCode()
	}
	return out.String(), errOut.String(), code
}

// rjOneDoc decodes stdout as exactly one JSON object, nothing before or
// after it but white space; it returns the object or why it is not one.
func rjOneDoc(stdout string) (map[string]any, string) {
	dec := json.NewDecoder(bytes.NewBufferString(stdout))
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, "not a JSON object: " + err.Error()
	}
	var extra any
	if err := dec.Decode(&extra); err != io.EOF {
		return doc, "more than one JSON document on stdout"
	}
	return doc, ""
}

// rjStartBg starts the real omni binary with args in the background; done
// closes when it has ended (it is killed when the test ends, if still
// running).
func rjStartBg(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer, chan struct{}) {
	t.Helper()
	bin := buildOmni(t)
	cmd := exec.Command(bin, append([]string{"--ssh-config", "none"}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			cmd.Process.Kill()
			<-done
		}
	})
	return cmd, &out, &errOut, done
}
