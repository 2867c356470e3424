package cli

import (
	"net"
	"strings"
	"testing"
	"time"
)

// TestSystemdStopOfASocketActivatedServiceSaysItCanComeBack (found by review): a
// service started by its socket unit (echo.socket listening, as with
// cups, docker, or any daemon packaged with a .socket). `omni service
// stop` stops echo.service and prints "Service stopped successfully!",
// Status: Stopped, nothing on stderr. systemctl itself warns "Stopping
// echo.service, but it can still be activated by: echo.socket" (omni
// runs it and drops what it says): the socket still listens, and the
// next connection starts the service again. The operator who stopped it
// for maintenance finds it running a moment later.
//
// An operator expects omni to say so (a warning naming echo.socket), as
// systemctl does: docs/reliability.md's "says in its output … exactly
// what happened".
func TestSystemdStopOfASocketActivatedServiceSaysItCanComeBack(t *testing.T) {
	const a = "127.0.84.51"
	const port = "17661"
	h, f := bootSystemdHost(t, "omni-rv-socket-sd", a, map[string]string{
		"echo.socket":  "[Socket]\nListenStream=" + a + ":" + port + "\n",
		"echo.service": "[Unit]\nDescription=echo\n\n[Service]\nExecStart=/bin/sleep 1000\n",
	}, nil,
		"  sd1: {address: "+a+", port: 22, user: root, sudo: false, roles: [worker], service_address: "+a+"}\n",
		"  echo: {}\n")
	h.Run(t, "systemctl start echo.socket")
	if out, errOut, code := f.omni(t, "service", "start", "sd1", "echo"); code != 0 {
		t.Fatalf("start: exit %d\n%s%s", code, out, errOut)
	}

	out, errOut, code := f.omni(t, "service", "stop", "sd1", "echo", "--yes")
	if code != 0 || show(t, h, "echo.service", "ActiveState")["ActiveState"] != "inactive" {
		t.Fatalf("stop: exit %d\n%s%s", code, out, errOut)
	}
	// What the warning is about: the next connection starts it again.
	c, err := net.DialTimeout("tcp", a+":"+port, 2*time.Second)
	if err != nil {
		t.Fatalf("echo.socket does not listen after the stop: %v", err)
	}
	c.Close()
	back := ""
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if back = show(t, h, "echo.service", "ActiveState")["ActiveState"]; back == "active" {
			break
		}
	}
	if back != "active" {
		t.Fatalf("echo.service did not come back on a connection to its socket: %s", back)
	}
	if !strings.Contains(errOut, "echo.socket") {
		t.Errorf("stop of a service its socket can activate again (it did, on the next connection): omni says nothing of echo.socket\n--- stdout\n%s--- stderr\n%s", out, errOut)
	}
}
