package inventory

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/omni-fleet/omni/internal/plural"
)

// Drain says how a service is taken out of its load balancer before a stop
// or restart and put back once it is healthy again (the `drain` key).
type Drain struct {
	HAProxy *HAProxyDrain // the built-in HAProxy drain; nil when not set
}

// HAProxyDrain is the built-in drain of a server of an HAProxy backend,
// over HAProxy's runtime API (its admin socket), reached through the SSH
// connection of the host HAProxy runs on.
type HAProxyDrain struct {
	On      string // the host HAProxy runs on (required)
	Socket  string // the admin socket's path on that host
	Backend string // the backend (required)
	// Server is the server's name in the backend; "{host}" in it stands
	// for the name of the host the service runs on. Default "{host}".
	Server       string
	WaitSessions int           // wait until the server's current sessions are at most this
	Timeout      time.Duration // how long to wait for them; over it, the step fails
	Line         int
	onLine       int // where `on` is written, for the check that it exists
	serverLine   int // where `server` is written, for the check of each host's name
}

// ServerFor is the server's name for the service's instance on host.
func (d *HAProxyDrain) ServerFor(host string) string {
	return strings.ReplaceAll(d.Server, "{host}", host)
}

// Defaults of the HAProxy drain.
const (
	DefaultHAProxySocket       = "/run/haproxy/admin.sock"
	DefaultHAProxyServer       = "{host}"
	DefaultHAProxyDrainTimeout = 60 * time.Second
)

var (
	drainKeys   = []string{"haproxy"}
	haproxyKeys = []string{"on", "socket", "backend", "server", "wait_sessions", "timeout"}
	// haproxyNameRE is what HAProxy accepts in a proxy or server name
	// (letters, digits, '-', '_', '.', ':'): nothing the runtime API's line
	// protocol gives a meaning to (spaces, ';', newlines, '/').
	// At most 64 of them: validHAProxyName.
	haproxyNameRE = regexp.MustCompile(`^[A-Za-z0-9._:-]+$`)
)

// validHAProxyName reports whether v is a proxy or server name HAProxy
// accepts, of at most 64 characters. The length is checked here, not by a
// counted repetition ({1,64}), which would be compiled into 64 copies at
// every start of omni.
func validHAProxyName(v string) bool { return len(v) <= haproxyNameMax && haproxyNameRE.MatchString(v) }

// haproxyNameMax is the longest proxy or server name omni sends HAProxy
// (the haproxy package's validName allows as many).
const haproxyNameMax = 64

const haproxyNameRule = `HAProxy names use letters, digits, ".", "_", ":" and "-" (at most 64)`

// drain decodes a service's drain key.
func (l *loader) drain(e entry, s *Service) {
	what := fmt.Sprintf("drain of service %q", s.Name)
	f, ok := l.fields(e.val, e.line(), what, drainKeys...)
	if !ok {
		return
	}
	s.Drain = &Drain{}
	if x, ok := f["haproxy"]; ok {
		s.Drain.HAProxy = l.haproxyDrain(x, s)
	} else {
		l.errorf(e.line(), "missing required key %q in %s (the only drain built in)", "haproxy", what)
	}
}

func (l *loader) haproxyDrain(e entry, s *Service) *HAProxyDrain {
	what := fmt.Sprintf("haproxy drain of service %q", s.Name)
	where := "in " + what
	f, ok := l.fields(e.val, e.line(), what, haproxyKeys...)
	if !ok {
		return nil
	}
	d := &HAProxyDrain{Socket: DefaultHAProxySocket, Server: DefaultHAProxyServer, Timeout: DefaultHAProxyDrainTimeout, Line: e.line()}
	for _, k := range []string{"on", "backend"} {
		if _, ok := f[k]; !ok {
			l.errorf(e.line(), "missing required key %q in %s", k, what)
		}
	}
	if x, ok := f["on"]; ok {
		d.On, _ = l.str(x, where)
		d.onLine = x.line()
	}
	if x, ok := f["socket"]; ok {
		if v, ok := l.str(x, where); ok {
			if !strings.HasPrefix(v, "/") || strings.ContainsAny(v, "\x00\n\r") {
				l.invalid(x, where, "%q must be an absolute path on one line", v)
			}
			d.Socket = v
		}
	}
	if x, ok := f["backend"]; ok {
		if v, ok := l.str(x, where); ok {
			if !validHAProxyName(v) {
				l.invalid(x, where, "%q is not an HAProxy name: %s", v, haproxyNameRule)
			}
			d.Backend = v
		}
	}
	if x, ok := f["server"]; ok {
		if v, ok := l.str(x, where); ok {
			// {host} becomes a host name, itself a valid HAProxy name.
			if !validHAProxyName(strings.ReplaceAll(v, "{host}", "h")) {
				l.invalid(x, where, "%q is not an HAProxy name: %s (\"{host}\" stands for the host's name)", v, haproxyNameRule)
			}
			d.Server = v
			d.serverLine = x.line()
		}
	}
	if x, ok := f["wait_sessions"]; ok {
		d.WaitSessions, _ = l.intRange(x, where, 0, 1000000)
	}
	if x, ok := f["timeout"]; ok {
		if v, ok := l.duration(x, where, true); ok {
			d.Timeout = v
		}
	}
	return d
}

// checkDrain reports a drain whose `on` host is not in the inventory, and
// a server template whose name, on a host that runs the service, is not
// one HAProxy accepts: the drain step would refuse it at run time.
func (l *loader) checkDrain(inv *Inventory, s *Service) {
	if s.Drain == nil || s.Drain.HAProxy == nil {
		return
	}
	d := s.Drain.HAProxy
	if d.On != "" && inv.hosts[d.On] == nil {
		l.errorf(d.onLine, "host %q is not defined (haproxy drain of service %q: on)%s", d.On, s.Name, l.suggest(d.On, inv.HostNames))
	}
	l.checkServerNames(inv, s, d)
}

// checkServerNames checks the server's name of each host that runs the
// service, "{host}" replaced by the host's name, with the rule the drain
// step applies (validHAProxyName, as the haproxy package's): a host name
// is itself a valid HAProxy name, so only the length can fail, and only
// the hosts whose name makes it too long are looked up. One error for the
// service, naming the first such host and how many more there are.
func (l *loader) checkServerNames(inv *Inventory, s *Service, d *HAProxyDrain) {
	if !strings.Contains(d.Server, "{host}") || !validHAProxyName(strings.ReplaceAll(d.Server, "{host}", "h")) {
		return // a fixed name is checked as it is decoded; a bad template too
	}
	var first *Host
	var name string
	more := 0
	for _, h := range inv.Hosts {
		n := d.ServerFor(h.Name)
		if validHAProxyName(n) || !inv.Runs(h, s.Name) {
			continue
		}
		if first == nil {
			first, name = h, n
			continue
		}
		more++
	}
	if first == nil {
		return
	}
	others := ""
	if more > 0 {
		others = " (and on " + plural.N(more, "more host", "more hosts") + ")"
	}
	line := d.serverLine
	if line == 0 {
		line = d.Line // the default "{host}"
	}
	l.errorf(line, "invalid server in haproxy drain of service %q: on host %q it is %q, %d characters: an HAProxy name is at most %d characters%s",
		s.Name, first.Name, name, len(name), haproxyNameMax, others)
}
