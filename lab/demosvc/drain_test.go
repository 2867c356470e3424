package demosvc_test

import (
	"context"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omni-fleet/omni/lab/demosvc"
)

// waitInflight polls GET /inflight until it says want.
func waitInflight(t *testing.T, addr, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, body, err := get("http://" + addr + "/inflight"); err == nil && strings.TrimSpace(body) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /inflight never said %s", want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// slowGet sends GET /slow?ms=N and reports its status (0: no answer).
func slowGet(addr, ms string) <-chan int {
	done := make(chan int, 1)
	go func() {
		client := &http.Client{Timeout: 20 * time.Second}
		resp, err := client.Get("http://" + addr + "/slow?ms=" + ms)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	return done
}

// TestSIGTERMFinishesInFlight: on SIGTERM a request in flight completes
// with 200 while new connections are refused, and the service exits only
// after it (the 100ms stop delay is far shorter than the request).
func TestSIGTERMFinishesInFlight(t *testing.T) {
	addr := freeAddr(t)
	p := startDemo(t, "--listen", addr, "--stop-delay", "100ms")
	waitAnswer(t, "http://"+addr+"/healthz", 10*time.Second)
	began := time.Now()
	slow := slowGet(addr, "1500")
	waitInflight(t, addr, "1")
	p.signal(t, syscall.SIGTERM)
	deadline := time.Now().Add(time.Second)
	for {
		_, _, err := get("http://" + addr + "/")
		if err != nil && strings.Contains(err.Error(), "connection refused") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a new connection is still accepted after SIGTERM: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-p.exited:
		t.Fatal("exited with a request in flight")
	default:
	}
	if code := <-slow; code != http.StatusOK {
		t.Fatalf("the request in flight got %d, want 200", code)
	}
	if code := p.wait(t, 5*time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
	if took := time.Since(began); took < 1500*time.Millisecond {
		t.Errorf("exited %s after the slow request began, before it could finish", took)
	}
}

// TestPostDrain: after POST /drain new requests (the health path too) get
// 503 while one in flight completes with 200; /inflight counts it.
func TestPostDrain(t *testing.T) {
	addr := freeAddr(t)
	startDemo(t, "--listen", addr)
	waitAnswer(t, "http://"+addr+"/healthz", 10*time.Second)
	slow := slowGet(addr, "500")
	waitInflight(t, addr, "1")
	resp, err := http.Post("http://"+addr+"/drain", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Inflight") != "1" {
		t.Fatalf("POST /drain: %d, X-Inflight %q", resp.StatusCode, resp.Header.Get("X-Inflight"))
	}
	for _, path := range []string{"/", "/healthz", "/slow?ms=1"} {
		if code, body, err := get("http://" + addr + path); err != nil || code != http.StatusServiceUnavailable || body != "draining\n" {
			t.Errorf("GET %s while draining: %d %q %v, want 503 draining", path, code, body, err)
		}
	}
	if code := <-slow; code != http.StatusOK {
		t.Fatalf("the request in flight got %d, want 200", code)
	}
	waitInflight(t, addr, "0")
}

// TestDrainClient: Drain returns only once the request in flight is done
// (it got 200), the service answers new requests 503 meanwhile and after;
// Drain with undo (POST /ready) makes it take them again; a drain whose
// request outlives the context fails, naming the count.
func TestDrainClient(t *testing.T) {
	addr := freeAddr(t)
	startDemo(t, "--listen", addr)
	waitAnswer(t, "http://"+addr+"/healthz", 10*time.Second)
	slow := slowGet(addr, "800")
	waitInflight(t, addr, "1")
	began := time.Now()
	if err := demosvc.Drain(context.Background(), addr, false); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took < 500*time.Millisecond {
		t.Errorf("Drain returned after %v, before the request in flight was done", took)
	}
	if code := <-slow; code != http.StatusOK {
		t.Errorf("the request in flight: status %d", code)
	}
	if code, _, _ := get("http://" + addr + "/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("drained: /healthz answered %d, want 503", code)
	}
	if err := demosvc.Drain(context.Background(), addr, true); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := get("http://" + addr + "/healthz"); code != http.StatusOK {
		t.Errorf("after undo: /healthz answered %d, want 200", code)
	}

	slow = slowGet(addr, "3000")
	waitInflight(t, addr, "1")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := demosvc.Drain(ctx, addr, false); err == nil || !strings.Contains(err.Error(), "1 request still in flight") {
		t.Errorf("a drain past its deadline: %v", err)
	}
	<-slow
}
