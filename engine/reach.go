package engine

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/omni-fleet/omni/engine/health"
	"github.com/omni-fleet/omni/internal/fanout"
	"github.com/omni-fleet/omni/inventory"
)

// ReachCheck prefixes the name of the reach check of each requirement:
// "reach auth-service@primary-bastion".
const ReachCheck = "reach "

// reachEdge is one requires edge of an instance that has a reach check:
// the dependency's instances the dependent may reach (one, or those of a
// role, any of which will do) and where.
type reachEdge struct {
	label   string // the requirement: "auth-service@primary-bastion"
	service string
	role    string // set for a role-level requirement
	spec    inventory.ReachSpec
	targets []reachTarget
}

// reachTarget is one instance the dependent connects to, at addr.
type reachTarget struct {
	host string
	addr string // host:port, from the dependent's view
	url  string // the health URL probed when spec.HTTP, else ""
	want int    // its expected status
}

// reachEdges lists inst's requires edges that have a reach check, in
// requires order.
func (g *graph) reachEdges(inst Instance) []reachEdge {
	from := g.host(inst.Host)
	if from == nil {
		return nil
	}
	var out []reachEdge
	for _, r := range g.needsOf[inst.Service] {
		if !r.Reach.Checked() {
			continue
		}
		e := reachEdge{label: r.String(), service: r.Service, role: r.Role, spec: r.Reach}
		var hosts []string
		switch {
		case r.Role != "":
			for _, x := range g.roleInstances(r.Service, r.Role) {
				hosts = append(hosts, x.Host)
			}
		case r.Host != "":
			hosts = []string{r.Host}
		default:
			hosts = []string{inst.Host}
		}
		dep, _ := g.inv.Service(r.Service)
		for _, name := range hosts {
			to := g.host(name)
			if to == nil {
				continue
			}
			addr := net.JoinHostPort(inventory.ReachAddress(from, to, r.Reach), strconv.Itoa(r.Reach.Port))
			t := reachTarget{host: name, addr: addr}
			if r.Reach.HTTP && dep != nil && dep.Health.HTTP != nil {
				t.url, t.want = "http://"+addr+dep.Health.HTTP.Path, dep.Health.HTTP.Expect
			}
			e.targets = append(e.targets, t)
		}
		if len(e.targets) > 0 {
			out = append(out, e)
		}
	}
	return out
}

// where names the dependency an edge reaches, for messages: "auth-service
// on primary-bastion (10.0.0.5:8443)", or for a role "auth-service on any
// bastion host (primary-bastion 10.0.0.5:8443, bastion2 10.0.0.6:8443)".
func (e reachEdge) where() string {
	if e.role == "" {
		return fmt.Sprintf("%s on %s (%s)", e.service, e.targets[0].host, e.targets[0].addr)
	}
	list := make([]string, len(e.targets))
	for i, t := range e.targets {
		list[i] = t.host + " " + t.addr
	}
	return fmt.Sprintf("%s on any %s host (%s)", e.service, e.role, strings.Join(list, ", "))
}

// reachChecks runs inst's reach checks, side by side: each connects from
// inst's host, through its SSH connection, to the dependency's address
// and port (and GETs its health URL when the edge says http), with the
// retries and per-attempt timeout of inst's health (one attempt in a
// look). One result per edge, named ReachCheck + the requirement; an
// optional edge's result is Optional. A failure reads "worker1 cannot
// reach auth-service on primary-bastion (10.0.0.5:8443): connection
// refused".
func (c *checker) reachChecks(ctx context.Context, inst Instance) []health.Result {
	edges := c.deps.reachEdges(inst)
	if len(edges) == 0 {
		return nil
	}
	svc, err := c.inv.Service(inst.Service)
	if err != nil {
		return nil
	}
	spec := svc.Health
	if c.look != nil {
		spec.Retries, spec.StartPeriod = 0, 0
	}
	out := make([]health.Result, len(edges))
	conn, err := c.conn(ctx, inst.Host)
	fanout.Each(len(edges), dependencyReads, func(i int) {
		e := edges[i]
		name := ReachCheck + e.label
		if err != nil {
			out[i] = health.Result{Check: name, Attempts: 1, Error: fmt.Sprintf("%s cannot reach %s: %v", inst.Host, e.where(), err)}
		} else {
			out[i] = health.Retry(ctx, spec, name, func(ctx context.Context) error {
				return reachAny(ctx, conn, e)
			})
			if !out[i].Passed {
				out[i].Error = fmt.Sprintf("%s cannot reach %s: %s", inst.Host, e.where(), out[i].Error)
			}
		}
		out[i].Optional = e.spec.Mode == inventory.ReachOptional
	})
	return out
}

// reachAny connects to the edge's targets through d, side by side, and
// passes when one of them answers (a role-level edge needs one); else it
// says why each did not.
func reachAny(ctx context.Context, d health.Dialer, e reachEdge) error {
	if len(e.targets) == 1 {
		return reachOne(ctx, d, e.targets[0])
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(e.targets))
	var mu sync.Mutex
	ok := false
	fanout.Each(len(e.targets), dependencyReads, func(i int) {
		err := reachOne(ctx, d, e.targets[i])
		mu.Lock()
		defer mu.Unlock()
		if err == nil && !ok {
			ok = true
			cancel()
		}
		errs[i] = err
	})
	if ok {
		return nil
	}
	why := make([]string, len(e.targets))
	for i, t := range e.targets {
		why[i] = t.host + ": " + errs[i].Error()
	}
	return fmt.Errorf("%s", strings.Join(why, "; "))
}

// reachOne connects to one target (and probes its health URL).
func reachOne(ctx context.Context, d health.Dialer, t reachTarget) error {
	if t.url != "" {
		return health.Probe(ctx, d, t.url, t.want)
	}
	conn, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return fmt.Errorf("%s", dialWhy(err, t.addr))
	}
	return conn.Close()
}

// dialWhy is a dial's error without the "HOST: dial ADDR: " the transport
// puts before its reason: the reach check's message names both already.
// OpenSSH gives its errno ("Connection refused") only when the connection
// failed after it began; when connect(2) itself fails (no route, network
// unreachable) it says "open failed", and the errno is in its own log.
func dialWhy(err error, addr string) string {
	msg := err.Error()
	if i := strings.Index(msg, "dial "+addr+": "); i >= 0 {
		msg = msg[i+len("dial "+addr+": "):]
	}
	if msg == "open failed" {
		return `could not connect (sshd: "open failed": no route to the address, or the network is unreachable, from this host)`
	}
	return msg
}

// describeReach says, for --dry-run, which reach checks the health step
// of svc on host runs: "reach from worker1: auth-service@primary-bastion
// at 10.0.0.5:8443 (optional), ...", or "" when none.
func describeReach(inv *inventory.Inventory, host string, svc *inventory.Service) string {
	checked := false
	for _, r := range svc.Requirements() {
		checked = checked || r.Reach.Checked()
	}
	if !checked {
		return ""
	}
	edges := newGraph(inv).reachEdges(Instance{Host: host, Service: svc.Name})
	if len(edges) == 0 {
		return ""
	}
	parts := make([]string, len(edges))
	for i, e := range edges {
		addrs := make([]string, len(e.targets))
		for j, t := range e.targets {
			addrs[j] = t.addr
		}
		what := "tcp"
		if e.spec.HTTP {
			what = "http"
		}
		parts[i] = fmt.Sprintf("%s at %s (%s, %s)", e.label, strings.Join(addrs, " or "), what, e.spec.Mode)
	}
	return "reach from " + host + ": " + strings.Join(parts, ", ")
}
