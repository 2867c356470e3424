package engine

import (
	"testing"
	"time"
)

// TestOnlyChecksAfter: the restart script is the last command only when
// nothing after the start but the same service's health and record steps
// runs on the host.
func TestOnlyChecksAfter(t *testing.T) {
	task := func(step StepName, host, svc string) Task { return Task{Step: step, Host: host, Service: svc} }
	start := task(StepStart, "a", "web")
	head := []Task{task(StepStop, "a", "web"), task(StepVerifyStopped, "a", "web"), start}
	for _, tc := range []struct {
		name  string
		after []Task
		want  bool
	}{
		{"health and record", []Task{task(StepHealth, "a", "web"), task(StepRecord, "a", "web")}, true},
		{"nothing", nil, true},
		{"a post-start hook", []Task{task(StepHealth, "a", "web"), task(StepPostStart, "a", "web"), task(StepRecord, "a", "web")}, false},
		{"another service's health on the host", []Task{task(StepHealth, "a", "web"), task(StepHealth, "a", "db")}, false},
		{"undrain", []Task{task(StepHealth, "a", "web"), task(StepUndrain, "a", "web")}, false},
		{"the dependents' report", []Task{task(StepRecord, "a", "web"), task(StepReportDependents, "b", "api")}, false},
	} {
		tasks := append(append([]Task{}, head...), tc.after...)
		if got := onlyChecksAfter(tasks, start); got != tc.want {
			t.Errorf("%s: onlyChecksAfter = %v, want %v", tc.name, got, tc.want)
		}
	}
	if onlyChecksAfter(head[:2], start) {
		t.Error("no start in the tasks, yet onlyChecksAfter is true")
	}
}

// oneCmdConn is a Conn that can be told it runs one command (OneCommand).
type oneCmdConn struct {
	*svcConn
	once bool
}

func (c oneCmdConn) Once() Conn {
	c.once = true
	return c
}

// TestLastCommand: a connection that can run a single command is told so,
// and keeps its bound when it has one; any other is left as it is.
func TestLastCommand(t *testing.T) {
	c := withBound(oneCmdConn{svcConn: &svcConn{}}, time.Second)
	got, ok := lastCommand(c).(boundedConn)
	if !ok || got.bound != time.Second {
		t.Fatalf("lastCommand lost the bound: %#v", lastCommand(c))
	}
	if inner, ok := got.Conn.(oneCmdConn); !ok || !inner.once {
		t.Errorf("lastCommand did not tell the connection: %#v", got.Conn)
	}
	plain := withBound(&svcConn{}, time.Second)
	if lastCommand(plain) != plain {
		t.Error("a connection without OneCommand changed")
	}
	unbounded := oneCmdConn{svcConn: &svcConn{}}
	if !lastCommand(unbounded).(oneCmdConn).once {
		t.Error("a connection without a bound (command_timeout 0) was not told")
	}
}
