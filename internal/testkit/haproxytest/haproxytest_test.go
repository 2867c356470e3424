package haproxytest

import (
	"net"
	"strings"
	"testing"
)

// TestStart: HAProxy starts with its admin socket; a server set to drain
// shows srv_admin_state 8 in `show servers state`, ready 0.
func TestStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	h := Start(t, Options{Listen: "127.0.0.1:0", Backend: "be", Server: "s1", Target: ln.Addr().String()})
	if got := h.AdminState(t, "be", "s1"); got != StateReady {
		t.Fatalf("admin state %d, want ready", got)
	}
	if out := h.Command(t, "set server be/s1 state drain"); strings.TrimSpace(out) != "" {
		t.Fatalf("set server: %q", out)
	}
	if got := h.AdminState(t, "be", "s1"); got != StateDrain {
		t.Fatalf("admin state %d, want drain", got)
	}
}
