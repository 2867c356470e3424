package health

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/omni-fleet/omni/inventory"
)

// hostView is a Dialer standing for the host's point of view (sshd's
// direct-tcpip): whatever address a check asks for, it reaches the
// service, which listens on to. It records what was asked.
type hostView struct {
	to    string
	asked []string
}

func (h *hostView) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	h.asked = append(h.asked, addr)
	var d net.Dialer
	return d.DialContext(ctx, network, h.to)
}

// TestHTTPCheckOnAZonedServiceAddress: a host whose services listen on an
// IPv6 link-local address has `service_address: fe80::1%eth0` (the
// inventory accepts it, as it accepts a zone in a host's address; sshd's
// direct-tcpip dials it, as `nc fe80::1%eth0 7450` does). The port check
// dials [fe80::1%eth0]:PORT and passes. An operator expects the HTTP check
// on the same address and port to send its GET there and pass on a 200.
//
// omni builds the check's URL as "http://" + JoinHostPort(address, port) +
// path: "http://[fe80::1%eth0]:PORT/healthz", which is not a valid URL
// (a zone in a URL is written %25eth0), so the HTTP check fails before it
// dials, every time, with `invalid URL escape "%et"`: a healthy service is
// unhealthy in status, and its every start or restart fails.
func TestHTTPCheckOnAZonedServiceAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.240.61:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	host := &hostView{to: ln.Addr().String()}
	rep := Run(context.Background(), Target{
		Spec: inventory.Health{
			Port:     port,
			HTTP:     &inventory.HTTPCheck{Port: port, Path: "/healthz", Expect: 200},
			Timeout:  time.Second,
			Retries:  1,
			Interval: 10 * time.Millisecond,
		},
		Address: "fe80::1%eth0",
		Dialer:  host,
	})
	if !rep.Passed() {
		t.Fatalf("port and HTTP checks of a service on fe80::1%%eth0 port %d (it answers 200): %s; want passed (the port check dialled %v)",
			port, rep.Failure(), host.asked)
	}
	want := net.JoinHostPort("fe80::1%eth0", strconv.Itoa(port))
	for _, a := range host.asked {
		if a != want {
			t.Fatalf("dialled %q, want %q", a, want)
		}
	}
}
