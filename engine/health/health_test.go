package health

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/omni-fleet/omni/inventory"
)

func spec(port int, path string, expect int) inventory.Health {
	return inventory.Health{
		Process:  true,
		Port:     port,
		HTTP:     &inventory.HTTPCheck{Port: port, Path: path, Expect: expect},
		Timeout:  time.Second,
		Retries:  2,
		Interval: 10 * time.Millisecond,
	}
}

func alive(context.Context) (bool, string, error) { return true, "pid 42", nil }

func serve(t *testing.T, status int) int {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	return p
}

func TestAllChecksPass(t *testing.T) {
	port := serve(t, 200)
	r := Run(context.Background(), Target{Spec: spec(port, "/healthz", 200), Address: "127.0.0.1", Process: alive, Dialer: &net.Dialer{}})
	if !r.Passed() || len(r.Checks) != 3 {
		t.Fatalf("report %+v", r)
	}
}

func TestFailuresSayWhichCheckAndWhy(t *testing.T) {
	port := serve(t, 503)
	r := Run(context.Background(), Target{Spec: spec(port, "/healthz", 200), Address: "127.0.0.1", Process: alive, Dialer: &net.Dialer{}})
	// At least retries + 1 attempts once the checks before it passed; the
	// HTTP check runs beside them, and an attempt it made before they had
	// passed spends none of its budget, so there may be one more.
	want := regexp.MustCompile(`^http: GET http://127\.0\.0\.1:` + strconv.Itoa(port) + `/healthz: status 503, want 200 \(after ([34]) attempts\)$`)
	if r.Passed() || !want.MatchString(r.Failure()) {
		t.Fatalf("failure %q, want %s", r.Failure(), want)
	}

	// Nothing listening: the port check fails and the HTTP check is not attempted.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	r = Run(context.Background(), Target{Spec: spec(closed, "/healthz", 200), Address: "127.0.0.1", Process: alive, Dialer: &net.Dialer{}})
	if r.Passed() || len(r.Checks) != 2 || !strings.HasPrefix(r.Failure(), "port "+strconv.Itoa(closed)+": nothing listens on") {
		t.Fatalf("report %+v", r)
	}

	dead := func(context.Context) (bool, string, error) { return false, "status exit 3", nil }
	r = Run(context.Background(), Target{Spec: spec(port, "/healthz", 200), Address: "127.0.0.1", Process: dead, Dialer: &net.Dialer{}})
	if r.Failure() != "process: not running (status exit 3) (after 3 attempts)" {
		t.Fatalf("failure %q", r.Failure())
	}
}

func TestRetriesUntilTheServiceComesUp(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	go func() {
		time.Sleep(150 * time.Millisecond)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			return
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
		t.Cleanup(func() { srv.Close() })
		srv.Serve(ln)
	}()
	s := spec(port, "/healthz", 200)
	s.Retries, s.Interval = 50, 20*time.Millisecond
	r := Run(context.Background(), Target{Spec: s, Address: "127.0.0.1", Process: alive, Dialer: &net.Dialer{}})
	if !r.Passed() || r.Checks[1].Attempts < 2 {
		t.Fatalf("report %+v", r)
	}
}

func TestPausesStartShortAndGrowToTheInterval(t *testing.T) {
	var got []time.Duration
	for i := 0; i < 6; i++ {
		got = append(got, pause(i, 500*time.Millisecond))
	}
	want := []time.Duration{25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 500 * time.Millisecond}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("pauses %v, want %v", got, want)
		}
	}
	if pause(0, 10*time.Millisecond) != 10*time.Millisecond || pause(70, time.Second) != time.Second {
		t.Fatal("pause must never exceed the interval, nor overflow")
	}
}

// TestShortPausesCountFromTheAttemptsStart: over a slow link an attempt
// takes a round trip; a short pause after a start is counted from the
// start of the attempt that failed, so the next attempt goes as soon as
// the pause has passed, not a pause after the answer. Pauses as long as
// the interval stay pauses between attempts, and the attempts allowed are
// as many as before (the budget counts whole pauses).
func TestShortPausesCountFromTheAttemptsStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rtt = 50 * time.Millisecond
		s := inventory.Health{Timeout: time.Second, Retries: 3, Interval: time.Second}
		var starts []time.Duration
		begin := time.Now()
		res := retry(context.Background(), s, "port", func(context.Context) error {
			starts = append(starts, time.Since(begin))
			time.Sleep(rtt) // the refused dial's round trip
			if len(starts) < 3 {
				return errors.New("connection refused")
			}
			return nil
		}, nil)
		if !res.Passed || res.Attempts != 3 {
			t.Fatalf("result %+v", res)
		}
		// Pauses of 25 and 50 ms, both within an attempt's 50 ms: each
		// attempt starts as the one before it ends.
		want := []time.Duration{0, rtt, 2 * rtt}
		for i := range want {
			if starts[i] != want[i] {
				t.Fatalf("attempts started at %v, want %v", starts, want)
			}
		}
	})
	synctest.Test(t, func(t *testing.T) {
		// The first pause (25 ms) is shorter than the interval and within
		// the attempt: none. The next is the interval (40 ms), which is
		// not shortened. The budget (2 × 40 ms) still allows 3 attempts.
		s := inventory.Health{Timeout: time.Second, Retries: 2, Interval: 40 * time.Millisecond}
		var starts []time.Duration
		begin := time.Now()
		res := retry(context.Background(), s, "port", func(context.Context) error {
			starts = append(starts, time.Since(begin))
			time.Sleep(50 * time.Millisecond)
			return errors.New("connection refused")
		}, nil)
		want := []time.Duration{0, 50 * time.Millisecond, 140 * time.Millisecond}
		if res.Passed || res.Attempts != 3 || len(starts) != 3 {
			t.Fatalf("result %+v, starts %v", res, starts)
		}
		for i := range want {
			if starts[i] != want[i] {
				t.Fatalf("attempts started at %v, want %v", starts, want)
			}
		}
	})
}

// ProcessMin raises the process check's budget, and only its: a process
// that shows up after the inventory's small budget is still seen.
func TestProcessMinRaisesTheProcessChecksBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		began := time.Now()
		late := func(context.Context) (bool, string, error) {
			return time.Since(began) >= time.Second, "stopped", nil
		}
		s := inventory.Health{Process: true, Timeout: time.Second, Retries: 1, Interval: 100 * time.Millisecond}
		if r := Run(context.Background(), Target{Spec: s, Process: late}); r.Passed() {
			t.Fatalf("without ProcessMin the process check passed within its 100ms budget: %+v", r)
		}
		began = time.Now()
		r := Run(context.Background(), Target{Spec: s, Process: late, ProcessMin: 5 * time.Second})
		if !r.Passed() {
			t.Fatalf("with a ProcessMin of 5s a process up after 1s failed: %+v", r)
		}
		if d := time.Since(began); d > 2*time.Second {
			t.Errorf("it passed after %s: the check should pass as soon as the process is up", d)
		}
	})
}

// TestScheduleIsWhatRetryDoes (found by review): the plan's health text
// said "21 attempts, 100ms apart" where a failing check made 22, its first
// pauses being shorter; Schedule, which the text is built from, counts
// the attempts retry makes.
func TestScheduleIsWhatRetryDoes(t *testing.T) {
	if n, short := Schedule(inventory.Health{Retries: 20, Interval: 100 * time.Millisecond}); n != 22 || len(short) != 2 ||
		short[0] != 25*time.Millisecond || short[1] != 50*time.Millisecond {
		t.Errorf("retries 20, interval 100ms: %d attempts, short pauses %v; want 22, [25ms 50ms]", n, short)
	}
	for _, spec := range []inventory.Health{
		{Retries: 5, Interval: 40 * time.Millisecond, Timeout: time.Second},
		{Retries: 3, Interval: 0, Timeout: time.Second},
		{Retries: 0, Interval: 50 * time.Millisecond, Timeout: time.Second},
		{Retries: 2, Interval: 10 * time.Millisecond, Timeout: time.Second},
	} {
		res := retry(context.Background(), spec, "x", func(context.Context) error { return errors.New("no") }, nil)
		if n, _ := Schedule(spec); n != res.Attempts {
			t.Errorf("%+v: Schedule says %d attempts, retry made %d", spec, n, res.Attempts)
		}
	}
}
