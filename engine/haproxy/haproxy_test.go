package haproxy

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/omni-fleet/omni/internal/testkit/haproxytest"
)

// TestRuntimeAPI against a real HAProxy: set a server's state, read its
// status and sessions from `show stat`; an unknown server and a command
// that would be two are errors, the latter unsent.
func TestRuntimeAPI(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // a backend that keeps its connections open until the client closes
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	h := haproxytest.Start(t, haproxytest.Options{Listen: "127.0.0.1:0", Backend: "be", Server: "s1", Target: ln.Addr().String()})
	c := Client{Where: "local:" + h.Socket, Dial: func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", h.Socket)
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := net.Dial("tcp", h.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var st Server
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if st, err = c.Stat(ctx, "be", "s1"); err != nil {
			t.Fatal(err)
		}
		if st.Sessions == 1 || time.Now().After(deadline) {
			break
		}
	}
	if st.Sessions != 1 {
		t.Fatalf("stat with one client: %+v", st)
	}
	if err := c.SetState(ctx, "be", "s1", Drain); err != nil {
		t.Fatal(err)
	}
	if got := h.AdminState(t, "be", "s1"); got != haproxytest.StateDrain {
		t.Fatalf("admin state %d after drain", got)
	}
	if st, _ = c.Stat(ctx, "be", "s1"); st.Status != "DRAIN" {
		t.Errorf("status %q, want DRAIN", st.Status)
	}
	if err := c.SetState(ctx, "be", "s1", Ready); err != nil {
		t.Fatal(err)
	}
	if got := h.AdminState(t, "be", "s1"); got != haproxytest.StateReady {
		t.Fatalf("admin state %d after ready", got)
	}
	if err := c.SetState(ctx, "be", "nosuch", Drain); err == nil || !strings.Contains(err.Error(), "No such server") {
		t.Errorf("unknown server: %v", err)
	}
	if _, err := c.Stat(ctx, "be", "nosuch"); err == nil || !strings.Contains(err.Error(), "no server be/nosuch") {
		t.Errorf("stat of an unknown server: %v", err)
	}
	if err := c.SetState(ctx, "be", "s1;x", Drain); err == nil {
		t.Error("a server name with ';' was accepted")
	}
	if _, err := c.Command(ctx, "set server be/s1 state drain; shutdown frontend fe"); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Errorf("two commands in one: %v", err)
	}
	if got := h.AdminState(t, "be", "s1"); got != haproxytest.StateReady {
		t.Fatalf("admin state %d after the refused command", got)
	}
}

// TestAdminState against a real HAProxy: ready, drain, maint, and maint
// set over a drain, as `show servers state` gives them.
func TestAdminState(t *testing.T) {
	h := haproxytest.Start(t, haproxytest.Options{Listen: "127.0.96.250:0", Backend: "be", Server: "s1", Target: "127.0.96.250:9"})
	c := Client{Where: "local:" + h.Socket, Dial: func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", h.Socket)
	}}
	ctx := t.Context()
	for _, step := range []struct {
		set                    string
		ready, draining, maint bool
	}{{"", true, false, false}, {"drain", false, true, false}, {"maint", false, false, true}, {"ready", true, false, false}} {
		if step.set != "" {
			if err := c.SetState(ctx, "be", "s1", step.set); err != nil {
				t.Fatal(err)
			}
		}
		a, err := c.AdminState(ctx, "be", "s1")
		if err != nil {
			t.Fatal(err)
		}
		if a.Ready() != step.ready || a.Draining() != step.draining || a.Maint() != step.maint {
			t.Errorf("after %q: admin %d: ready %v draining %v maint %v", step.set, a, a.Ready(), a.Draining(), a.Maint())
		}
	}
	if _, err := c.AdminState(ctx, "be", "nope"); err == nil {
		t.Error("no error for a server that is not there")
	}
	if _, err := c.AdminState(ctx, "nope", "s1"); err == nil {
		t.Error("no error for a backend that is not there")
	}
}
