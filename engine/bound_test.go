package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/manager"
)

// hungConn is a connection whose commands never end by themselves: each
// returns when its context ends, as the transport does.
type hungConn struct{ fakeConn }

func (hungConn) Run(ctx context.Context, _ string) (manager.Result, error) {
	<-ctx.Done()
	return manager.Result{ExitCode: -1}, fmt.Errorf("host: command interrupted: %w", ctx.Err())
}

func (hungConn) Stream(ctx context.Context, _ string, _, _ io.Writer) (int, error) {
	<-ctx.Done()
	return -1, fmt.Errorf("host: command interrupted: %w", ctx.Err())
}

func TestBoundedConn(t *testing.T) {
	const bound = 50 * time.Millisecond
	c := withBound(hungConn{}, bound)

	// No deadline of its own: the bound applies, and says so.
	began := time.Now()
	_, err := c.Run(context.Background(), "status")
	var timeout *TimeoutError
	if !errors.As(err, &timeout) || timeout.After != bound || err.Error() != "timed out after 50ms" {
		t.Errorf("Run without a deadline: %v, want timed out after 50ms", err)
	}
	if took := time.Since(began); took < bound || took > 2*time.Second {
		t.Errorf("Run without a deadline took %s", took)
	}
	if _, err := c.Stream(context.Background(), "logs", nil, nil); !errors.As(err, &timeout) {
		t.Errorf("Stream without a deadline: %v, want a TimeoutError", err)
	}

	// A deadline of its own (a step's timeout) is kept, even a longer one.
	// (began is taken before the deadline is set, so that the time
	// measured from it is never shorter than the deadline.)
	began = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 4*bound)
	defer cancel()
	_, err = c.Run(ownBound(ctx), "stop")
	if errors.As(err, &timeout) || !errors.Is(err, context.DeadlineExceeded) || time.Since(began) < 4*bound {
		t.Errorf("Run with a deadline of its own: %v after %s, want the caller's deadline", err, time.Since(began))
	}

	// An inherited deadline (a whole run's, a cron wrapper's) does not
	// replace the bound.
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	began = time.Now()
	if _, err = c.Run(ctx, "status"); !errors.As(err, &timeout) || time.Since(began) > 2*time.Second {
		t.Errorf("Run with an inherited deadline: %v after %s, want timed out after 50ms", err, time.Since(began))
	}

	// logs -f: no bound; the caller ends it.
	began = time.Now()
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(4*bound, cancel)
	_, err = c.Stream(unbounded(ctx), "logs -f", nil, nil)
	if !errors.Is(err, context.Canceled) || time.Since(began) < 4*bound {
		t.Errorf("Stream unbounded: %v after %s, want cancelled by the caller", err, time.Since(began))
	}
}

// TestCommandTimeoutBoundsTheSteps: the inventory's command_timeout is the
// bound of the steps that read a state and of logs without -f.
func TestCommandTimeoutBoundsTheSteps(t *testing.T) {
	inv, set := loadExample(t)
	inv.Defaults.CommandTimeout = 7 * time.Second
	for _, req := range []Request{
		{Action: "stop", Host: "worker1", Service: "container-runtime"},
		{Action: "start", Host: "worker1", Service: "container-runtime", NoDeps: true},
		{Action: "logs", Host: "worker2", Service: "storage-agent", Lines: 10},
		{Action: "logs", Host: "worker2", Service: "storage-agent", Lines: 10, Follow: true},
	} {
		pb, err := set.Get(req.Action)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := NewPlan(inv, pb, req)
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range plan.Tasks {
			want := map[StepName]time.Duration{"check-stopped": 7 * time.Second, "check-deps": 7 * time.Second,
				"verify-stopped": 7 * time.Second, "record": 7 * time.Second, "logs": 7 * time.Second}[task.Step]
			if task.Step == "logs" && req.Follow {
				want = 0 // until Ctrl-C
			}
			if want != 0 || task.Step == "logs" {
				if task.Timeout != want {
					t.Errorf("%s %v: %s timeout %s, want %s", req.Action, req.Follow, task.Step, task.Timeout, want)
				}
			}
		}
	}
}
