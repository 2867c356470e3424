package health

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omni-fleet/omni/inventory"
)

// meetDialer's dials wait until the process check has started (or the
// attempt's timeout ends), and say they have started.
type meetDialer struct {
	processStarted <-chan struct{}
	dialStarted    chan<- struct{}
	once           *sync.Once
	fail           bool
}

func (d meetDialer) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	d.once.Do(func() { close(d.dialStarted) })
	select {
	case <-d.processStarted:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if d.fail {
		return nil, errors.New("connection refused")
	}
	c1, c2 := net.Pipe()
	c2.Close()
	return c1, nil
}

// TestChecksOfOneAttemptRunSideBySide: the process check and the port
// check each wait until the other has started. Run one after the other,
// the first would time out; run side by side, both pass, and the report
// keeps their order.
func TestChecksOfOneAttemptRunSideBySide(t *testing.T) {
	processStarted, dialStarted := make(chan struct{}), make(chan struct{})
	process := func(ctx context.Context) (bool, string, error) {
		close(processStarted)
		select {
		case <-dialStarted:
			return true, "pid 42", nil
		case <-ctx.Done():
			return false, "", ctx.Err()
		}
	}
	spec := inventory.Health{Process: true, Port: 7400, Timeout: 2 * time.Second, Interval: time.Second}
	began := time.Now()
	r := Run(context.Background(), Target{Spec: spec, Address: "127.0.0.1", Process: process,
		Dialer: meetDialer{processStarted: processStarted, dialStarted: dialStarted, once: &sync.Once{}}})
	if !r.Passed() || len(r.Checks) != 2 || r.Checks[0].Check != "process" || r.Checks[1].Check != "port 7400" {
		t.Fatalf("report %+v, want process and port 7400 passed, in that order", r)
	}
	if took := time.Since(began); took > time.Second {
		t.Errorf("took %s: the checks waited on each other", took)
	}
}

// TestReportEndsAtTheFirstFailureInOrder: the port check fails while the
// process check is still running (and, its budget spent, gives up once
// the process check has passed); the report lists the process check
// first, then the port check, and not the HTTP check, which was cancelled
// (its dial waits until then).
func TestReportEndsAtTheFirstFailureInOrder(t *testing.T) {
	processStarted, dialStarted := make(chan struct{}), make(chan struct{})
	process := func(ctx context.Context) (bool, string, error) {
		close(processStarted)
		select {
		case <-dialStarted:
		case <-ctx.Done():
			return false, "", ctx.Err()
		}
		time.Sleep(50 * time.Millisecond) // ends after the port check failed
		return true, "pid 42", nil
	}
	spec := inventory.Health{Process: true, Port: 7400, HTTP: &inventory.HTTPCheck{Port: 7401, Path: "/", Expect: 200},
		Timeout: time.Second, Interval: time.Second}
	d := splitDialer{port: meetDialer{processStarted: processStarted, dialStarted: dialStarted, once: &sync.Once{}, fail: true}}
	began := time.Now()
	r := Run(context.Background(), Target{Spec: spec, Address: "127.0.0.1", Process: process, Dialer: d})
	if len(r.Checks) != 2 || !r.Checks[0].Passed || r.Checks[1].Passed || !strings.HasPrefix(r.Failure(), "port 7400: nothing listens on") {
		t.Fatalf("report %+v, want process passed, then port 7400 failed, no http", r)
	}
	if took := time.Since(began); took > 900*time.Millisecond {
		t.Errorf("took %s: the HTTP check was not cancelled", took)
	}
}

// splitDialer dials the port check's port with port, and makes the HTTP
// check's dial wait until its context ends.
type splitDialer struct{ port meetDialer }

func (d splitDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if strings.HasSuffix(addr, ":7400") {
		return d.port.DialContext(ctx, network, addr)
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestALaterCheckGetsItsBudgetOnceTheEarlierPass: the port opens a while
// after the process is seen running, longer after the start than the
// port check's budget but within it once the process check passed: as
// when the checks ran one after the other, the port check passes.
func TestALaterCheckGetsItsBudgetOnceTheEarlierPass(t *testing.T) {
	began := time.Now()
	process := func(ctx context.Context) (bool, string, error) {
		if time.Since(began) < 300*time.Millisecond {
			return false, "activating", nil
		}
		return true, "pid 42", nil
	}
	d := dialFunc(func(ctx context.Context, _, _ string) (net.Conn, error) {
		if time.Since(began) < 500*time.Millisecond {
			return nil, errors.New("connection refused")
		}
		c1, c2 := net.Pipe()
		c2.Close()
		return c1, nil
	})
	spec := inventory.Health{Process: true, Port: 7400, Timeout: time.Second, Retries: 8, Interval: 50 * time.Millisecond}
	r := Run(context.Background(), Target{Spec: spec, Address: "127.0.0.1", Process: process, Dialer: d})
	if !r.Passed() || len(r.Checks) != 2 {
		t.Fatalf("report %+v, want process and port passed", r)
	}
}
