package health

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/omni-fleet/omni/internal/warm"
	"github.com/omni-fleet/omni/inventory"
)

// Dialer opens TCP connections from the host's point of view.
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// ProcessFunc reports whether the service's process is alive.
type ProcessFunc func(ctx context.Context) (alive bool, detail string, err error)

// Result is the outcome of one check.
type Result struct {
	Check    string `json:"check"` // "process", "port 7400", "http"
	Passed   bool   `json:"passed"`
	Attempts int    `json:"attempts"`
	Error    string `json:"error,omitempty"`
	// Optional: a failure does not fail the report, it degrades it (a
	// reach check with reach: optional).
	Optional bool `json:"optional,omitempty"`
	// Dependency is set on a dependency check: the requirement it checks,
	// "network-agent@worker2", or "db@database" for a role.
	Dependency string `json:"dependency,omitempty"`
	// Reason is why a dependency check failed ("" when it passed, and on
	// every other check).
	Reason DependencyReason `json:"reason,omitempty"`
}

// DependencyReason is why a dependency check failed.
type DependencyReason string

// The reasons of a failed dependency check.
const (
	// DependencyStopped: the dependency does not run (or, for a role, no
	// instance runs and is healthy): a start fixes it.
	DependencyStopped DependencyReason = "stopped"
	// DependencyUnhealthy: it runs but fails its own health checks.
	DependencyUnhealthy DependencyReason = "unhealthy"
	// DependencyUnreadable: its state could not be read.
	DependencyUnreadable DependencyReason = "unreadable"
)

// Report is the outcome of every check of a service.
type Report struct {
	Checks []Result `json:"checks"`
}

// Passed is true when every check that is not optional passed (and
// vacuously when there are none).
func (r Report) Passed() bool {
	for _, c := range r.Checks {
		if !c.Passed && !c.Optional {
			return false
		}
	}
	return true
}

// Failure describes the first failed check that is not optional, or "".
func (r Report) Failure() string {
	for _, c := range r.Checks {
		if !c.Passed && !c.Optional {
			return fmt.Sprintf("%s: %s", c.Check, c.Error)
		}
	}
	return ""
}

// Degraded describes the optional checks that failed ("" when none did),
// "; " between them: a report that passes with one is degraded.
func (r Report) Degraded() string {
	var out []string
	for _, c := range r.Checks {
		if !c.Passed && c.Optional {
			out = append(out, c.Error)
		}
	}
	return strings.Join(out, "; ")
}

// Target is what the checks need to know of one service on one host.
type Target struct {
	Spec    inventory.Health
	Address string // where the service listens, from the host's view
	Process ProcessFunc
	Dialer  Dialer
	// Warm runs the checks side by side on goroutines that ran checks
	// before (see package warm); nil: on new goroutines.
	Warm *warm.Pool
	// ProcessMin, when set, is the least waiting budget of the process
	// check (more retries at the spec's interval): a process check the
	// inventory did not ask for, run to verify a start, waits for a
	// daemon that writes its pidfile late as long as the default budget
	// does, whatever small budget the inventory gave its port and HTTP
	// checks.
	ProcessMin time.Duration
}

// Run waits the start period, then runs the configured checks side by
// side, each retrying until it passes or runs out of attempts (its own
// budget, as the inventory says): an attempt of all the checks takes as
// long as the slowest of them, not their sum. The report keeps the checks
// in their order (process, port, http) and ends at the first check that
// failed for good: later checks are not meaningful then, so they are
// cancelled and left out, as if they had not run.
func Run(ctx context.Context, t Target) Report {
	if t.Spec.StartPeriod > 0 {
		select {
		case <-time.After(t.Spec.StartPeriod):
		case <-ctx.Done():
		}
	}
	var checks []check
	if t.Spec.Process && t.Process != nil {
		checks = append(checks, check{processCheck, func(ctx context.Context) error {
			alive, detail, err := t.Process(ctx)
			if err != nil {
				return err
			}
			if !alive {
				return fmt.Errorf("not running (%s)", detail)
			}
			return nil
		}})
	}
	portDialer, httpDialer := t.Dialer, t.Dialer
	if h := t.Spec.HTTP; t.Spec.Port > 0 && h != nil && h.Port == t.Spec.Port {
		first := &firstDial{d: t.Dialer, done: make(chan struct{})}
		defer first.close()
		portDialer, httpDialer = first.dialer(false), first.dialer(true)
	}
	if t.Spec.Port > 0 {
		addr := net.JoinHostPort(t.Address, strconv.Itoa(t.Spec.Port))
		checks = append(checks, check{"port " + strconv.Itoa(t.Spec.Port), func(ctx context.Context) error {
			conn, err := portDialer.DialContext(ctx, "tcp", addr)
			if err != nil {
				return fmt.Errorf("nothing listens on %s: %v", addr, err)
			}
			return conn.Close()
		}})
	}
	if h := t.Spec.HTTP; h != nil {
		url := "http://" + net.JoinHostPort(t.Address, strconv.Itoa(h.Port)) + h.Path
		checks = append(checks, check{"http", func(ctx context.Context) error {
			return httpCheck(ctx, httpDialer, url, h.Expect)
		}})
	}
	return Report{Checks: runAll(ctx, t.Warm, checks, func(ctx context.Context, c check, ahead <-chan struct{}) Result {
		spec := t.Spec
		if c.name == processCheck && spec.Interval > 0 && time.Duration(spec.Retries)*spec.Interval < t.ProcessMin {
			spec.Retries = int((t.ProcessMin + spec.Interval - 1) / spec.Interval)
		}
		return retry(ctx, spec, c.name, c.fn, ahead)
	})}
}

// processCheck names the process check's result.
const processCheck = "process"

// WithProcess is the report Run returns when the process check is
// configured and its single attempt passes, and the other checks (port,
// HTTP), run without it, reported rep: the process check first, then
// rep's. It lets a caller that learns whether the process runs from a read
// of its own (a status) run the other checks while that read is on its way.
func WithProcess(rep Report) Report {
	checks := append([]Result{{Check: processCheck, Passed: true, Attempts: 1}}, rep.Checks...)
	return Report{Checks: checks}
}

// check is one named check.
type check struct {
	name string
	fn   func(context.Context) error
}

// runAll runs each check with run, all at once, and returns their results
// in the checks' order up to and including the first that did not pass.
// When a check fails, the checks after it are cancelled (their results
// would be left out); the ones before it run to their end, since one of
// them may fail too and come first. Each check's run is handed ahead,
// closed once every check before it has passed.
func runAll(ctx context.Context, pool *warm.Pool, checks []check, run func(context.Context, check, <-chan struct{}) Result) []Result {
	if len(checks) == 0 {
		return nil
	}
	n := len(checks)
	results := make([]Result, n)
	done := make(chan int, n)
	cancels := make([]context.CancelFunc, n)
	gates := make([]chan struct{}, n+1) // gates[i]: checks 0..i-1 passed
	for i := range gates {
		gates[i] = make(chan struct{})
	}
	close(gates[0])
	for i, c := range checks {
		cctx, cancel := context.WithCancel(ctx)
		cancels[i] = cancel
		pool.Go(func() {
			results[i] = run(cctx, c, gates[i])
			done <- i
		})
	}
	first := n // the first check known to have failed
	passed := make([]bool, n)
	upTo := 0 // gates[0..upTo] are closed
	for range checks {
		i := <-done
		cancels[i]()
		if results[i].Passed {
			passed[i] = true
			for upTo < n && passed[upTo] {
				upTo++
				close(gates[upTo])
			}
		} else if i < first {
			first = i
			for _, cancel := range cancels[i+1:] {
				cancel()
			}
		}
	}
	if first < n {
		return results[:first+1]
	}
	return results
}

// retry runs fn until it passes or the check's waiting budget, retries ×
// interval, is spent (with interval 0: until 1 + retries attempts failed).
// The pauses start short (see pause), so a service that comes up quickly
// is seen at once; the budget, and so the longest wait for a slow one,
// stays what the inventory says. The checks run side by side,
// but a check's budget is spent only once the checks before it have passed
// (ahead is closed): as when they ran one after the other, a port that
// opens a while after the process is up gets its whole budget.
func retry(ctx context.Context, spec inventory.Health, name string, fn func(context.Context) error, ahead <-chan struct{}) Result {
	res := Result{Check: name}
	budget := time.Duration(spec.Retries) * spec.Interval
	var waited time.Duration
	var last error
	counted := 0 // failed attempts since ahead closed
	for i := 0; ; i++ {
		res.Attempts = i + 1
		began := time.Now()
		actx, cancel := context.WithTimeout(ctx, spec.Timeout)
		last = fn(actx)
		if last != nil && actx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
			last = fmt.Errorf("timed out after %s", spec.Timeout)
		}
		cancel()
		if last == nil {
			res.Passed = true
			return res
		}
		p := pause(i, spec.Interval)
		if ctx.Err() != nil {
			break
		}
		if closed(ahead) {
			// With interval 0 the budget is spent at once: the retries
			// count the attempts instead (1 + retries of them).
			counted++
			if waited+p > budget || (spec.Interval <= 0 && counted > spec.Retries) {
				break
			}
			waited += p
		} else if p <= 0 {
			p = firstPause // waiting for the checks before it: never a busy loop
		}
		if p < spec.Interval {
			// A short pause after a start is counted from the start of the
			// attempt that failed: one that took a round trip over a slow
			// link has waited that long already. The budget still counts
			// the whole pause, so the attempts are as many as before.
			p = max(0, p-time.Since(began))
		}
		select {
		case <-time.After(p):
		case <-ctx.Done():
		}
	}
	res.Error = last.Error()
	if res.Attempts > 1 {
		res.Error += fmt.Sprintf(" (after %d attempts)", res.Attempts)
	}
	return res
}

// closed reports whether c is closed (nil counts as closed).
func closed(c <-chan struct{}) bool {
	if c == nil {
		return true
	}
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// httpCheck sends one GET over one connection dialled through d and
// compares the response's status with expect. It speaks HTTP/1.1 itself
// (net/http's Request.Write and ReadResponse) rather than through an
// http.Transport: a Transport per check started two goroutines and their
// buffers for a single request, 5% of a 1,000-host status's CPU.
// Redirects are not followed: their status is the answer.
//
// Interim responses (1xx but 101: 103 Early Hints, 100 Continue) are read
// past, as RFC 9110 asks of a client; the body is never read (the
// connection is closed), so a streamed body costs nothing. A zone in an
// IPv6 address (fe80::1%eth0) is written as a URL needs it (%25).
func httpCheck(ctx context.Context, d Dialer, url string, expect int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, escapeZone(url), nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "omni-health-check")
	req.Close = true // Connection: close
	fail := func(err error) error {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		msg := err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		return fmt.Errorf("GET %s: %s", url, msg)
	}
	conn, err := d.DialContext(ctx, "tcp", req.URL.Host)
	if err != nil {
		return fail(err)
	}
	defer conn.Close()
	// A connection through SSH has no deadlines: closing it ends a read or
	// write that ctx's end should interrupt.
	defer context.AfterFunc(ctx, func() { conn.Close() })()
	if err := req.Write(conn); err != nil {
		return fail(err)
	}
	br := bufio.NewReader(conn)
	var resp *http.Response
	for interim := 0; ; interim++ {
		if resp, err = http.ReadResponse(br, req); err != nil {
			return fail(err)
		}
		if resp.StatusCode < 100 || resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols || interim == maxInterim {
			break
		}
	}
	// The body is not read: a Close of it would read a chunked one to
	// its end (a stream: until the timeout). The connection's close
	// (deferred) ends it.
	if resp.StatusCode != expect {
		return fmt.Errorf("GET %s: status %d, want %d", url, resp.StatusCode, expect)
	}
	return nil
}

// maxInterim bounds the interim (1xx) responses read before the answer.
const maxInterim = 8

// escapeZone writes the zone of an IPv6 address in url's host as a URL
// must (% as %25): "http://[fe80::1%eth0]:80/x" is not a URL, and
// "http://[fe80::1%25eth0]:80/x" is the same address.
func escapeZone(url string) string {
	rest, ok := strings.CutPrefix(url, "http://[")
	if !ok {
		return url
	}
	host, after, ok := strings.Cut(rest, "]")
	if !ok {
		return url
	}
	return "http://[" + strings.ReplaceAll(host, "%", "%25") + "]" + after
}

// firstPause is the wait after a first failed attempt. A service that was
// just started usually needs milliseconds, not a whole interval, to open its
// port: the pauses start short and double up to the configured interval.
// While they are shorter than the interval, they are counted from the start
// of the failed attempt (see retry): over a 50 ms link a refused dial has
// taken longer than the first pause, and the next attempt goes at once.
const firstPause = 25 * time.Millisecond

// Schedule is what retry does with spec when its check keeps failing and
// the checks before it have passed (its budget counts from then on):
// how many attempts it makes, and the pauses between them that are
// shorter than the interval (25ms doubling), after which it pauses
// interval; with interval 0, 1 + retries attempts back to back.
func Schedule(spec inventory.Health) (attempts int, short []time.Duration) {
	if spec.Interval <= 0 {
		return spec.Retries + 1, nil
	}
	budget := time.Duration(spec.Retries) * spec.Interval
	var waited time.Duration
	attempts = 1
	for i := 0; ; i++ {
		p := pause(i, spec.Interval)
		if waited+p > budget {
			break
		}
		waited += p
		attempts++
		if p < spec.Interval {
			short = append(short, p)
		}
	}
	return attempts, short
}

func pause(attempt int, interval time.Duration) time.Duration {
	d := firstPause << attempt
	if d <= 0 || d > interval {
		return interval
	}
	return d
}

// firstDial is the first connection to a port that both the port check
// and the HTTP check use: opened once, by whichever of their first
// attempts asks first, and handed to both. The port check passes when it
// opens (it connected, which is all it asks), and the HTTP check sends
// its request over it: one channel open instead of two. Later attempts
// dial on their own. The connection is closed when the checks end.
type firstDial struct {
	d       Dialer
	mu      sync.Mutex
	started bool
	done    chan struct{} // closed once dialled
	conn    net.Conn
	err     error
}

// dialer returns a Dialer for one check: its first call gets the shared
// connection, later calls dial anew. The HTTP check's (owner) may close
// it, which ends a request that its context's end interrupts; the port
// check's Close leaves it open.
func (f *firstDial) dialer(owner bool) Dialer {
	var used atomic.Bool
	return dialFunc(func(ctx context.Context, network, addr string) (net.Conn, error) {
		if used.Swap(true) {
			return f.d.DialContext(ctx, network, addr)
		}
		f.mu.Lock()
		first := !f.started
		f.started = true
		f.mu.Unlock()
		if first {
			f.conn, f.err = f.d.DialContext(ctx, network, addr)
			close(f.done)
		} else {
			select {
			case <-f.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if f.err != nil {
			return nil, f.err
		}
		if owner {
			return f.conn, nil
		}
		return sharedConn{f.conn}, nil
	})
}

// close closes the shared connection, once the checks are done.
func (f *firstDial) close() {
	f.mu.Lock()
	started := f.started
	f.mu.Unlock()
	if started {
		<-f.done
		if f.conn != nil {
			f.conn.Close()
		}
	}
}

// sharedConn is the first connection as the port check holds it: its
// Close leaves it open for the HTTP check; firstDial.close closes it when
// the checks are done.
type sharedConn struct{ net.Conn }

func (sharedConn) Close() error { return nil }

type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

func (d dialFunc) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return d(ctx, network, addr)
}
