package transport_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
)

// TestRoundTripsCounted pins what each call waits for, counted on the
// connection (see RoundTrips):
//   - a connection's first session was opened with the login (its open
//     sent behind the signed request, its confirmation back with the
//     login's success: dial.go, EarlySession): 0; every later one waits
//     for its confirmation: 1;
//   - the first Run takes the shell's session and starts sh in it with
//     the command in the start request itself, whose reply comes back
//     with the command's output (1): 1 on a new connection; each later Run
//     is 1; a first command too long to ride in the start request waits
//     for the start (1 more) before it is sent;
//   - RunOnce with no shell, and Stream, take or open a session and start
//     the command (1); the output and exit status that follow need
//     nothing more from us;
//   - DialContext opens a channel: 1; an HTTP request over it and its
//     response: 1 more; closing it waits for nothing;
//   - ending the shell (Release, Close) waits for it to exit: 1.
//
// Keepalives (on by default, every 15 s) are not counted, and nothing here
// depends on timing: the counts are exact.
func TestRoundTripsCounted(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.62"})
	ctx := testContext(t)

	t.Run("RunOnce and Stream: a session and its command", func(t *testing.T) {
		client := connect(t, newPool(t, transport.Options{}), srv.Endpoint("worker1"))
		if got := client.RoundTrips(); got != (transport.RoundTrips{Connects: 1}) {
			t.Fatalf("after connecting: %+v, want only the connection", got)
		}
		if _, err := client.RunOnce(ctx, "true"); err != nil {
			t.Fatal(err)
		}
		want := transport.RoundTrips{Connects: 1, Execs: 1} // the login's session
		if got := client.RoundTrips(); got != want || got.AfterAuth() != 1 {
			t.Errorf("RunOnce: %+v (after auth %d), want %+v (1)", got, got.AfterAuth(), want)
		}
		if _, err := client.Stream(ctx, "echo hi", io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
		if got := client.RoundTrips().AfterAuth(); got != 3 { // Stream's session is a new one
			t.Errorf("RunOnce and Stream: %d round trips, want 3", got)
		}
	})

	t.Run("Run: a first command too long for the start request", func(t *testing.T) {
		client := connect(t, newPool(t, transport.Options{}), srv.Endpoint("worker1"))
		long := "echo " + strings.Repeat("x", 40<<10) + " | wc -c"
		res, err := client.Run(ctx, long)
		if err != nil || strings.TrimSpace(string(res.Stdout)) != fmt.Sprint(40<<10+1) || res.ExitCode != 0 {
			t.Fatalf("long first command: %v, exit %d, %q", err, res.ExitCode, res.Stdout)
		}
		run(t, client, "true")
		want := transport.RoundTrips{Connects: 1, Execs: 1, ShellCommands: 2}
		if got := client.RoundTrips(); got != want {
			t.Errorf("long first command, then one more: %+v, want %+v", got, want)
		}
	})

	t.Run("Run: the shell's start, then one per command", func(t *testing.T) {
		pool := newPool(t, transport.Options{})
		client := connect(t, pool, srv.Endpoint("worker1"))
		const n = 5
		for i := range n {
			run(t, client, fmt.Sprintf("echo %d", i))
		}
		want := transport.RoundTrips{Connects: 1, ShellCommands: n}
		if got := client.RoundTrips(); got != want {
			t.Errorf("%d Runs: %+v, want %+v", n, got, want)
		}
		// A RunOnce now uses the idle shell: one more command, no session.
		if _, err := client.RunOnce(ctx, "true"); err != nil {
			t.Fatal(err)
		}
		if got := client.RoundTrips().AfterAuth(); got != n+1 {
			t.Errorf("after a RunOnce on the shell: %d, want %d", got, n+1)
		}
		pool.Release(client)
		if err := pool.Close(); err != nil { // waits for the release
			t.Fatal(err)
		}
		if got := client.RoundTrips().ShellEnds; got != 1 {
			t.Errorf("shell ends counted %d, want 1", got)
		}
	})

	t.Run("DialContext: the channel, then each request and answer", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.62:0")
		if err != nil {
			t.Fatal(err)
		}
		hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, "ok")
		})}
		go hs.Serve(l)
		t.Cleanup(func() { hs.Close() })
		client := connect(t, newPool(t, transport.Options{}), srv.Endpoint("worker1"))

		conn, err := client.DialContext(ctx, "tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conn.Close() // a port check: connects, nothing more
		if got, want := client.RoundTrips(), (transport.RoundTrips{Connects: 1, Dials: 1}); got != want {
			t.Errorf("one dial: %+v, want %+v", got, want)
		}

		conn, err = client.DialContext(ctx, "tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		r := bufio.NewReader(conn)
		for range 2 { // two requests on one connection: two exchanges
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+l.Addr().String()+"/", nil)
			if err := req.Write(conn); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(r, req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if got, want := client.RoundTrips(), (transport.RoundTrips{Connects: 1, Dials: 2, Exchanges: 2}); got != want {
			t.Errorf("two dials, two requests: %+v, want %+v", got, want)
		}
	})

	t.Run("a refused dial is answered too", func(t *testing.T) {
		client := connect(t, newPool(t, transport.Options{}), srv.Endpoint("worker1"))
		host, port := closedPort(t, "127.0.0.62")
		if _, err := client.DialContext(ctx, "tcp", net.JoinHostPort(host, itoa(port))); err == nil {
			t.Fatal("dial to a closed port succeeded")
		}
		if got := client.RoundTrips().Dials; got != 1 {
			t.Errorf("refused dial counted %d, want 1", got)
		}
	})

	t.Run("a cancelled context waits for nothing", func(t *testing.T) {
		client := connect(t, newPool(t, transport.Options{}), srv.Endpoint("worker1"))
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := client.Run(cancelled, "true"); err == nil {
			t.Fatal("Run with a cancelled context succeeded")
		}
		if got := client.RoundTrips().AfterAuth(); got != 0 {
			t.Errorf("%d round trips for a Run that never started, want 0", got)
		}
	})
}

// TestBastionCountsTheChannelItOpens: a host reached through a bastion
// costs the bastion's connection one channel open, counted there.
func TestBastionCountsTheChannelItOpens(t *testing.T) {
	t.Parallel()
	bastion := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.63"})
	target := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.64"})
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	bastion.WriteKnownHosts(knownHosts)
	target.WriteKnownHosts(knownHosts)
	bastionEP := bastion.Endpoint("bastion")
	bastionEP.KnownHosts = knownHosts
	ep := target.Endpoint("worker1")
	ep.KnownHosts, ep.Via = knownHosts, &bastionEP
	pool := newPool(t, transport.Options{})
	client := connect(t, pool, ep)
	run(t, client, "true")
	b := connect(t, pool, bastionEP)
	if got, want := b.RoundTrips(), (transport.RoundTrips{Connects: 1, Dials: 1}); got != want {
		t.Errorf("bastion: %+v, want %+v", got, want)
	}
	if got := client.RoundTrips().AfterAuth(); got != 1 { // its session came with the login
		t.Errorf("worker1: %d round trips after auth for its first Run, want 1", got)
	}
}
