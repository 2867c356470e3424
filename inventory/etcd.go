package inventory

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// etcdEndpointProblem says why an etcd endpoint can never work, "" when
// it can: etcd's clients take http:// or https:// with a host and a port,
// and etcd has no default port in a URL (2379 is a convention, not
// something a client fills in), so a URL without one dials port 80 or
// 443 and waits for an answer that never comes.
func etcdEndpointProblem(ep string) string {
	const noScheme = "no scheme: give http:// or https:// (e.g. \"https://10.20.0.5:2379\")"
	if !strings.Contains(ep, "://") {
		return noScheme
	}
	u, err := url.Parse(ep)
	if err != nil {
		return fmt.Sprintf("not a URL (%v)", errText(err))
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		if u.Scheme == "" {
			return noScheme
		}
		return fmt.Sprintf("scheme %q: give http or https", u.Scheme)
	case u.Opaque != "" || u.Host == "":
		return "no host: give http(s)://HOST:PORT"
	case u.User != nil:
		return "a user or password in the URL: etcd authentication is not supported (docs/registry.md)"
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.ForceQuery, u.Fragment != "":
		return "a path, query or fragment: give only http(s)://HOST:PORT"
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || port == "" {
		return "no port: etcd URLs have no default port, give one (etcd listens on 2379 unless told otherwise)"
	}
	if host == "" {
		return "no host: give http(s)://HOST:PORT"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Sprintf("port %s: give a port from 1 to 65535", port)
	}
	return ""
}

// errText is a url.Error's reason without the URL, which the message
// already quotes.
func errText(err error) string {
	if ue, ok := err.(*url.Error); ok {
		return strings.TrimSpace(ue.Err.Error())
	}
	return err.Error()
}
