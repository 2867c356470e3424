package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// errAuthRequired is an etcd cluster that wants a user: omni has none.
var errAuthRequired = errors.New("the etcd cluster requires authentication, which omni does not support (docs/registry.md)")

// isAuthError says whether err is etcd refusing a client that did not
// authenticate.
func isAuthError(err error) bool {
	for _, e := range []error{rpctypes.ErrUserEmpty, rpctypes.ErrAuthFailed, rpctypes.ErrInvalidAuthToken,
		rpctypes.ErrPermissionDenied, rpctypes.ErrAuthOldRevision, rpctypes.ErrUserNotFound} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// diagnose says why the first request to the cluster failed with err.
// etcd's client says only that the request timed out when the endpoint
// refuses connections, speaks TLS to an http:// URL (or the reverse),
// presents a certificate the system does not trust, or is not etcd at
// all, since it retries until its deadline. So each endpoint is probed
// directly, with Go's net, tls and http, for at most timeout; the first
// reason found for each is said. When every endpoint looks like a working
// etcd, the error is etcd's own.
func diagnose(ctx context.Context, endpoints []string, timeout time.Duration, err error) error {
	if isAuthError(err) {
		return errAuthRequired
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	reasons := make([]string, len(endpoints))
	var wg sync.WaitGroup
	for i, ep := range endpoints {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reasons[i] = probeEtcd(ctx, ep, timeout)
		}()
	}
	wg.Wait()
	var said []string
	for i, r := range reasons {
		if r != "" {
			said = append(said, endpoints[i]+": "+r)
		}
	}
	if len(said) == 0 {
		return fmt.Errorf("no answer within %s: %w", timeout, err)
	}
	return errors.New(strings.Join(said, "; "))
}

// probeEtcd says what is wrong with the etcd endpoint ep, "" when it
// answers as etcd does (GET /version names an etcd server).
func probeEtcd(ctx context.Context, ep string, timeout time.Duration) string {
	u, err := url.Parse(ep)
	if err != nil || u.Host == "" {
		return "not an http(s)://HOST:PORT URL"
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return dialProblem(err, timeout)
	}
	conn.Close()
	host := u.Hostname()
	switch u.Scheme {
	case "https":
		tconn, err := (&tls.Dialer{Config: &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}}).DialContext(ctx, "tcp", u.Host)
		if err != nil {
			if why := certificateProblem(err); why != "" {
				return why
			}
			plain := *u
			plain.Scheme = "http"
			if speaksHTTP(ctx, &plain, timeout) {
				// Some servers answer a TLS hello with an HTTP error, others
				// (etcd) hang up: either way, they speak plain HTTP.
				return "the server does not speak TLS, it answers plain HTTP: use http://" + u.Host
			}
			return tlsProblem(err, timeout)
		}
		tconn.Close()
	case "http":
		// A TLS server behind an http:// URL: a handshake that works (the
		// certificate is not the question here) says so.
		tconn, err := (&tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}}).DialContext(ctx, "tcp", u.Host)
		if err == nil {
			tconn.Close()
			return "the server speaks TLS: use https://" + u.Host
		}
	}
	return versionProblem(ctx, u, timeout)
}

// dialProblem says why a TCP connection could not be opened.
func dialProblem(err error, timeout time.Duration) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused (is etcd running, on this address and port?)"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("no answer within %s (connecting)", timeout)
	}
	return err.Error()
}

// certificateProblem says why the server's certificate was refused, ""
// when the handshake failed for another reason.
func certificateProblem(err error) string {
	var (
		unknownCA x509.UnknownAuthorityError
		invalid   x509.CertificateInvalidError
		hostname  x509.HostnameError
		verify    *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &invalid), errors.As(err, &hostname), errors.As(err, &verify):
		return "its TLS certificate is not trusted: " + x509Reason(err) +
			" (https endpoints are verified against the system's CA certificates)"
	}
	return ""
}

// tlsProblem says why a TLS handshake with an https:// endpoint failed,
// its certificate aside.
func tlsProblem(err error, timeout time.Duration) string {
	var record tls.RecordHeaderError
	switch {
	case errors.As(err, &record):
		return "the server does not speak TLS"
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
		return "the server closed the connection during the TLS handshake (is it a TLS server?)"
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no answer within %s (TLS handshake)", timeout)
	}
	return "TLS handshake: " + err.Error()
}

// x509Reason is the verification error's own words.
func x509Reason(err error) string {
	var verify *tls.CertificateVerificationError
	if errors.As(err, &verify) {
		return verify.Err.Error()
	}
	return err.Error()
}

// speaksHTTP says whether u answers a plain HTTP request at all.
func speaksHTTP(ctx context.Context, u *url.URL, timeout time.Duration) bool {
	client := &http.Client{Timeout: timeout}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.Scheme+"://"+u.Host+"/version", nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// versionProblem asks the endpoint GET /version, which every etcd
// answers with its version ({"etcdserver":"3.6.0",...}), and says what
// is wrong with the answer; "" when it is etcd's.
func versionProblem(ctx context.Context, u *url.URL, timeout time.Duration) string {
	client := &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, ServerName: u.Hostname()}},
		Timeout:   timeout,
	}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.Scheme+"://"+u.Host+"/version", nil)
	if err != nil {
		return err.Error()
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Sprintf("no answer within %s (GET /version)", timeout)
		}
		if strings.Contains(err.Error(), "malformed HTTP response") {
			return "the server does not speak HTTP: not an etcd"
		}
		return "GET /version: " + err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var v struct {
		Server string `json:"etcdserver"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &v) != nil || v.Server == "" {
		return fmt.Sprintf("an HTTP server that is not etcd (GET /version: %s)", resp.Status)
	}
	return ""
}
