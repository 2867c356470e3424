package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/registry"
)

// TestWordsAndFailure: context errors are said in words, once; a step
// error is said without its host and service; a log tail is found through
// wrapping.
func TestWordsAndFailure(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{context.Canceled, "interrupted"},
		{fmt.Errorf("connect: %w", context.DeadlineExceeded), "connect: timed out"},
		{fmt.Errorf("interrupted: %w", context.Canceled), "interrupted"},
		{fmt.Errorf("timed out: %w", context.DeadlineExceeded), "timed out"},
		{errors.New("exit 3"), "exit 3"},
	} {
		if got := Words(c.err); got != c.want {
			t.Errorf("Words(%v) = %q, want %q", c.err, got, c.want)
		}
	}
	step := &StepError{Host: "web1", Service: "app", Step: StepHealth, Err: fmt.Errorf("http: %w", context.DeadlineExceeded)}
	if got := Failure(fmt.Errorf("run: %w", step)); got != "health: http: timed out" {
		t.Errorf("Failure = %q", got)
	}
	if got := Failure(errors.New("plain")); got != "plain" {
		t.Errorf("Failure = %q", got)
	}
	tail := manager.LogTail{Reason: "exited", Lines: []string{"boom"}}
	le := &manager.LogError{Err: errors.New("start failed"), Tail: tail}
	reason, lines, tailErr := TailFields(&StepError{Step: StepStart, Err: le})
	if reason != "exited" || len(lines) != 1 || lines[0] != "boom" || tailErr != "" {
		t.Errorf("TailFields = %q %q %q", reason, lines, tailErr)
	}
	if LogTail(&manager.LogError{Err: errors.New("x")}) != nil || LogTail(errors.New("x")) != nil {
		t.Error("an empty or missing tail is not nil")
	}
	if r, l, e := TailFields(errors.New("x")); r != "" || l != nil || e != "" {
		t.Error("TailFields of an error without a tail")
	}
}

// TestClassifyTable: every class of error, and how a fleet's host ends.
func TestClassifyTable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want Class
		host HostResult
	}{
		{nil, ClassOK, HostFailed},
		{fmt.Errorf("x: %w", context.Canceled), ClassInterrupted, HostInterrupted},
		{&UsageError{"bad"}, ClassError, HostFailed},
		{&RefusedError{Err: errors.New("no")}, ClassRefused, HostFailed},
		{&registry.LockedError{Key: "a/b"}, ClassRefused, HostFailed},
		{&registry.FileError{Problem: registry.FileBusy}, ClassRefused, HostFailed},
		{&StepError{Step: StepStart, Err: errors.New("exit 1")}, ClassFailed, HostFailed},
		{&TimeoutError{After: time.Second}, ClassFailed, HostFailed},
	} {
		if got := Classify(c.err); got != c.want {
			t.Errorf("Classify(%T %v) = %s, want %s", c.err, c.err, got, c.want)
		}
		if c.err != nil {
			if got := hostResult(c.err, "a"); got != c.host {
				t.Errorf("hostResult(%v) = %s, want %s", c.err, got, c.host)
			}
		}
	}
}

// TestOwedEarlier: what an earlier run left owed, and what it did not.
func TestOwedEarlier(t *testing.T) {
	for _, c := range []struct {
		st           *registry.ConfigState
		owed, reason string
	}{
		{nil, "", ""},
		{&registry.ConfigState{Applied: "a", RunningWith: "a"}, "", ""},
		{&registry.ConfigState{Pending: true, PendingReason: pendingStopped}, "", ""},
		{&registry.ConfigState{Pending: true, PendingReason: pendingSkipped}, PendingEarlier + " (" + pendingSkipped + ")", pendingSkipped},
		{&registry.ConfigState{Pending: true}, PendingEarlier + " (" + pendingWritten + ")", pendingWritten},
		{&registry.ConfigState{Applied: "b", RunningWith: "a"}, PendingEarlier + " (the service last started with another configuration)",
			"the service last started with another configuration"},
	} {
		owed, reason := owedEarlier(c.st)
		if owed != c.owed || reason != c.reason {
			t.Errorf("owedEarlier(%+v) = %q, %q; want %q, %q", c.st, owed, reason, c.owed, c.reason)
		}
	}
}

// TestWriterBoundsStdin: the writer of a bounded connection that can feed
// stdin keeps that ability and its bound: a command that hangs ends as a
// *TimeoutError after the bound, its input delivered to one that does
// not; a connection that is not bounded, or cannot feed stdin, is itself.
func TestWriterBoundsStdin(t *testing.T) {
	lc := &localConn{}
	w := writer(withBound(lc, 300*time.Millisecond))
	in, ok := w.(boundedInputConn)
	if !ok {
		t.Fatalf("writer of a bounded local conn is %T", w)
	}
	res, err := in.RunInput(context.Background(), "tr a-z A-Z", []byte("piped"))
	if err != nil || string(res.Stdout) != "PIPED" {
		t.Fatalf("RunInput: %q %v", res.Stdout, err)
	}
	began := time.Now()
	_, err = in.RunInput(context.Background(), "exec sleep 10", []byte("x")) // exec: the kill reaches it
	var te *TimeoutError
	if !errors.As(err, &te) || te.After != 300*time.Millisecond || time.Since(began) > 5*time.Second {
		t.Fatalf("a hung RunInput: %v after %s", err, time.Since(began))
	}
	if writer(lc) != Conn(lc) {
		t.Fatal("writer of an unbounded conn wraps it")
	}
	b := withBound(&svcConn{}, time.Second)
	if _, ok := writer(b).(boundedInputConn); ok {
		t.Fatal("writer of a conn without RunInput claims to feed stdin")
	}
	if roundTripsOf(b) != nil || roundTripsOf(withBound(lc, time.Second)) != nil {
		t.Fatal("a conn that does not count reports round trips")
	}
}
