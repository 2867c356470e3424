package health

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omni-fleet/omni/inventory"
)

// serveCodes answers GET /healthz on a loopback port with the codes given, one
// a request (the last repeats), and returns the port.
func serveCodes(t *testing.T, codes ...int) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var i atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(i.Add(1)) - 1
		w.WriteHeader(codes[min(n, len(codes)-1)])
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// TestPortAndHTTPShareTheFirstDial: when the port check and the HTTP check
// look at the same port, their first attempts share one connection: the
// port check passes when it opens, the HTTP request goes over it.
func TestPortAndHTTPShareTheFirstDial(t *testing.T) {
	spec := func(port, httpPort int) inventory.Health {
		return inventory.Health{Port: port, HTTP: &inventory.HTTPCheck{Port: httpPort, Path: "/healthz", Expect: 200},
			Timeout: time.Second, Retries: 20, Interval: 50 * time.Millisecond}
	}
	t.Run("same port: one dial", func(t *testing.T) {
		port := serveCodes(t, 200)
		d := &countingDialer{}
		r := Run(context.Background(), Target{Spec: spec(port, port), Address: "127.0.0.1", Dialer: d})
		if !r.Passed() || len(r.Checks) != 2 || r.Checks[0].Attempts != 1 || r.Checks[1].Attempts != 1 {
			t.Fatalf("report %+v, want port and http passed at once", r)
		}
		if got := d.n.Load(); got != 1 {
			t.Errorf("%d connections opened, want 1 for both checks", got)
		}
	})
	t.Run("same port, HTTP retried: its retry dials", func(t *testing.T) {
		port := serveCodes(t, 503, 200)
		d := &countingDialer{}
		r := Run(context.Background(), Target{Spec: spec(port, port), Address: "127.0.0.1", Dialer: d})
		if !r.Passed() || r.Checks[0].Attempts != 1 || r.Checks[1].Attempts != 2 {
			t.Fatalf("report %+v, want port at once, http on its second attempt", r)
		}
		if got := d.n.Load(); got != 2 {
			t.Errorf("%d connections opened, want 2", got)
		}
	})
	t.Run("different ports: a dial each", func(t *testing.T) {
		port, other := serveCodes(t, 200), serveCodes(t, 200)
		d := &countingDialer{}
		r := Run(context.Background(), Target{Spec: spec(port, other), Address: "127.0.0.1", Dialer: d})
		if !r.Passed() || len(r.Checks) != 2 {
			t.Fatalf("report %+v", r)
		}
		if got := d.n.Load(); got != 2 {
			t.Errorf("%d connections opened, want 2", got)
		}
	})
	t.Run("same port, a server that never answers: the HTTP attempt still times out", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close() // held open, never answered
			}
		}()
		port := ln.Addr().(*net.TCPAddr).Port
		s := spec(port, port)
		s.Retries, s.Timeout = 0, 200*time.Millisecond
		began := time.Now()
		r := Run(context.Background(), Target{Spec: s, Address: "127.0.0.1", Dialer: &countingDialer{}})
		if took := time.Since(began); took > 3*time.Second {
			t.Errorf("the checks took %s with a 200ms timeout", took)
		}
		if r.Passed() || len(r.Checks) != 2 || !r.Checks[0].Passed || r.Checks[1].Error != "timed out after 200ms" {
			t.Errorf("report %+v, want the port passed and http timed out", r)
		}
	})
	t.Run("same port, nothing listens: both fail", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		s := spec(port, port)
		s.Retries = 0
		r := Run(context.Background(), Target{Spec: s, Address: "127.0.0.1", Dialer: &countingDialer{}})
		if r.Passed() || len(r.Checks) != 1 || r.Checks[0].Check != "port "+strconv.Itoa(port) {
			t.Errorf("report %+v, want the port check failed (and http left out)", r)
		}
	})
}
