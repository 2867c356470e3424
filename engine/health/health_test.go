package health

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
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
	want := "http: GET http://127.0.0.1:" + strconv.Itoa(port) + "/healthz: status 503, want 200 (after 3 attempts)"
	if r.Passed() || r.Failure() != want {
		t.Fatalf("failure %q, want %q", r.Failure(), want)
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
