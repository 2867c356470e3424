package registry

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// serveOn starts an httptest server (TLS when tls) on ip.
func serveOn(t *testing.T, ip string, tls bool, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the probes' handshakes, refused on purpose
	srv.Listener.Close()
	srv.Listener = l
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv
}

// TestEtcdOpenSaysWhatIsWrong (found by review): an etcd registry that
// cannot be used is said as what it is, not as "no answer within 5s",
// and is an *EtcdError (exit 2).
func TestEtcdOpenSaysWhatIsWrong(t *testing.T) {
	t.Parallel()
	etcdURL := startReviewEtcd(t, "127.0.95.80")
	notEtcd := serveOn(t, "127.0.95.81", false, func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	untrusted := serveOn(t, "127.0.95.82", true, func(w http.ResponseWriter, r *http.Request) {})
	refused := "http://" + net.JoinHostPort("127.0.95.83", freePort(t, "127.0.95.83"))
	for _, tc := range []struct{ name, endpoint, want string }{
		{"refused", refused, "connection refused"},
		{"not etcd", notEtcd.URL, "an HTTP server that is not etcd (GET /version: 404 Not Found)"},
		{"untrusted certificate", untrusted.URL, "its TLS certificate is not trusted: x509:"},
		{"https to a plain etcd", strings.Replace(etcdURL, "http://", "https://", 1), "the server does not speak TLS, it answers plain HTTP: use http://"},
		{"http to a TLS server", strings.Replace(untrusted.URL, "https://", "http://", 1), "the server speaks TLS: use https://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			_, err := OpenEtcd(context.Background(), EtcdConfig{Endpoints: []string{tc.endpoint}, DialTimeout: time.Second})
			var ee *EtcdError
			if !errors.As(err, &ee) || !strings.Contains(err.Error(), tc.endpoint+": "+tc.want) || strings.Contains(err.Error(), "no answer") {
				t.Fatalf("got %v after %s, want an *EtcdError saying %q", err, time.Since(start).Round(time.Millisecond), tc.want)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("took %s, want at most two dial timeouts (1s)", took)
			}
		})
	}
}
