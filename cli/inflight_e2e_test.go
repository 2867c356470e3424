package cli

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// TestRestartFinishesInFlight is the spec's "gracefully stops the service,
// allowing in-progress operations to complete", over real sshd with the
// demo service: a slow request in flight when the restart begins completes
// with 200, the stop waits for it (the old process outlives it), and the
// draining instance accepts no new request (its port refuses connections
// while the old process still runs).
func TestRestartFinishesInFlight(t *testing.T) {
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.1.183", WorkerAddr: "127.0.1.184",
		Extra: []testfleet.Service{{Name: "web", Role: "worker"}}})
	mustRun(t, f, "service", "start", "worker1", "web")
	addr := net.JoinHostPort("127.0.1.184", strconv.Itoa(f.Ports["web"]))
	old := f.PID("worker1", "web")

	type answer struct {
		code int
		at   time.Time
		err  error
	}
	slow := make(chan answer, 1)
	go func() {
		resp, err := (&http.Client{Timeout: 20 * time.Second}).Get("http://" + addr + "/slow?ms=2000")
		if err != nil {
			slow <- answer{err: err, at: time.Now()}
			return
		}
		resp.Body.Close()
		slow <- answer{code: resp.StatusCode, at: time.Now()}
	}()
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		resp, err := client.Get("http://" + addr + "/inflight")
		if err == nil {
			resp.Body.Close()
			if resp.Header.Get("X-Inflight") == "1" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow request is never in flight")
		}
	}

	type result struct {
		out, errOut string
		code        int
	}
	done := make(chan result, 1)
	go func() {
		out, errOut, code := omni(t, f, "service", "restart", "worker1", "web", "-v")
		done <- result{out, errOut, code}
	}()
	// While the old process finishes its request, a new connection is
	// refused: the draining instance takes no new request.
	refused := false
	var oldGone time.Time
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		alive := testfleet.Alive(old)
		if !alive {
			oldGone = time.Now()
			break
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		} else if strings.Contains(err.Error(), "connection refused") && testfleet.Alive(old) {
			refused = true
		}
	}
	a := <-slow
	r := <-done
	if r.code != 0 {
		t.Fatalf("restart: exit %d\n%s\n%s", r.code, r.out, r.errOut)
	}
	if a.err != nil || a.code != http.StatusOK {
		t.Fatalf("the request in flight: %d %v, want 200", a.code, a.err)
	}
	if !refused {
		t.Error("the draining instance still accepted connections while it finished its request")
	}
	if oldGone.IsZero() || oldGone.Before(a.at.Add(-50*time.Millisecond)) {
		t.Errorf("the old process was gone at %s, before its request was answered at %s: the stop did not wait", oldGone.Format(time.StampMilli), a.at.Format(time.StampMilli))
	}
	if pid := f.PID("worker1", "web"); pid == old || !testfleet.Alive(pid) {
		t.Errorf("no new process: %d -> %d", old, pid)
	}
}
