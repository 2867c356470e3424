package health

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingDialer counts the connections a check opens.
type countingDialer struct{ n atomic.Int32 }

func (d *countingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.n.Add(1)
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

// TestHTTPCheckOneRequestOneConnection: the check sends one GET with its
// User-Agent and Connection: close over one connection, and a redirect's
// status is the answer (not followed).
func TestHTTPCheckOneRequestOneConnection(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Method + " " + r.URL.Path + " " + r.UserAgent() + " close=" + map[bool]string{true: "yes", false: "no"}[r.Close])
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	defer srv.Close()
	d := &countingDialer{}
	url := srv.URL + "/healthz"
	if err := httpCheck(context.Background(), d, url, http.StatusFound); err != nil {
		t.Fatal(err)
	}
	err := httpCheck(context.Background(), d, url, http.StatusOK)
	if err == nil || err.Error() != "GET "+url+": status 302, want 200" {
		t.Fatalf("error %v", err)
	}
	if n := d.n.Load(); n != 2 {
		t.Fatalf("%d connections for 2 checks", n)
	}
	if s := got.Load(); s != "GET /healthz omni-health-check close=yes" {
		t.Fatalf("request %q", s)
	}
}

// TestHTTPCheckEndsWithItsContext: a server that accepts and never answers
// holds the check only until the context ends, which the error says.
func TestHTTPCheckEndsWithItsContext(t *testing.T) {
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
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	began := time.Now()
	err = httpCheck(ctx, &countingDialer{}, "http://"+ln.Addr().String()+"/healthz", 200)
	if err == nil || !strings.HasSuffix(err.Error(), ": context deadline exceeded") {
		t.Fatalf("error %v", err)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Fatalf("returned after %s", d)
	}
}
