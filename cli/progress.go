package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/internal/plural"
)

// progress shows a fleet run as it goes, on stderr. On a terminal it is a
// live view: finished hosts scroll above a status line and the hosts in
// flight with their current step. Elsewhere (cron, a pipe) it is one
// timestamped line per event, for a log a person reads the next morning.
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	st       style
	live     bool
	verbose  bool
	action   string
	service  string
	total    int
	batch    int
	batches  int
	finished int
	failed   int
	inflight []string             // hosts in flight, in the order they started
	step     map[string]string    // host -> its current step
	since    map[string]time.Time // host -> when it started
	drawn    int                  // lines of the live region on screen
	stop     chan struct{}
	stopped  sync.WaitGroup
}

// minReadyText is ", min-ready 5s" (sep first) when the run watches its
// hosts for --min-ready, "" when it does not (a stop, --min-ready 0).
func minReadyText(fo engine.FleetOptions, sep string) string {
	if fo.MinReady <= 0 {
		return ""
	}
	return sep + "min-ready " + fo.MinReady.String()
}

func newProgress(s Streams, opts *serviceOptions, fo engine.FleetOptions, hosts int) *progress {
	p := &progress{w: s.Err, st: style{emoji: s.ErrTTY, colour: s.ErrTTY && !s.NoColor}, live: s.ErrTTY,
		verbose: opts.Verbose, action: opts.Action, service: opts.Service, total: hosts,
		step: map[string]string{}, since: map[string]time.Time{}, stop: make(chan struct{})}
	mode := fmt.Sprintf("all at once, %d at a time", fo.Forks)
	if fo.Rolling {
		mode = fmt.Sprintf("rolling: batches of %d, max-unavailable %d%s", fo.Batch, fo.MaxUnavailable, minReadyText(fo, ", "))
	}
	p.line(fmt.Sprintf("%s %s on %s of %s (%s; max-failures %d)", opts.Action, opts.Service, plural.N(hosts, "host", "hosts"), opts.Host, mode, fo.MaxFailures))
	if p.live {
		p.stopped.Add(1)
		go p.tick()
	}
	return p
}

// tick redraws the live region so the elapsed times move.
func (p *progress) tick() {
	defer p.stopped.Done()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			p.redraw()
			p.mu.Unlock()
		}
	}
}

// close ends the live view, leaving only the finished lines on screen.
func (p *progress) close() {
	close(p.stop)
	p.stopped.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
}

// event is the fleet runner's OnEvent.
func (p *progress) event(ev engine.FleetEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev.Kind {
	case engine.EventPreflight:
		p.println(ev.Time, "preflight: "+oneLine(ev.Msg))
	case engine.EventBatch:
		p.batch, p.batches = ev.Batch, ev.Batches
		line := fmt.Sprintf("batch %d/%d: %s", ev.Batch, ev.Batches, strings.Join(ev.Hosts, ", "))
		if ev.Msg != "" {
			line += " (" + ev.Msg + ")"
		}
		p.println(ev.Time, line)
	case engine.EventStart:
		p.inflight = append(p.inflight, ev.Host)
		p.since[ev.Host] = ev.Time
		p.step[ev.Host] = "connecting"
		if !p.live {
			p.println(ev.Time, ev.Host+": "+verbs[p.action].doing)
		}
	case engine.EventStep:
		r := ev.Step
		p.step[ev.Host] = string(r.Task.Step)
		if p.verbose {
			mark, note := p.st.step(false), r.Text()
			if r.Status == engine.StepFailed {
				mark, note = p.st.step(true), engine.Failure(r.Err)
			}
			if note != "" {
				note = ": " + oneLine(note)
			}
			where := ""
			if r.Task.Host != ev.Host || r.Task.Service != p.service {
				where = " " + r.Task.Service + "@" + r.Task.Host
			}
			p.println(ev.Time, fmt.Sprintf("%s:   %s %s %.3fs%s%s", ev.Host, mark, r.Task.Step, r.Duration.Seconds(), where, note))
		} else if r.Warning != "" {
			p.println(ev.Time, fmt.Sprintf("%s: %s%s: %s: %s", ev.Host, p.st.paint(yellow, "warning: "), r.Task.Service+"@"+r.Task.Host, r.Task.Step, oneLine(r.Warning)))
		}
		// What the host's run did to other services (a dependency started).
		if line := dependencyLine(p.st, *r, engine.Instance{Host: ev.Host, Service: p.service}); line != "" {
			p.println(ev.Time, ev.Host+": "+p.st.icon("↳")+line)
		}
	case engine.EventReady:
		p.step[ev.Host] = "min-ready"
		if !p.live {
			p.println(ev.Time, ev.Host+": healthy; "+ev.Msg)
		}
	case engine.EventFinish:
		p.finish(ev)
	case engine.EventAbort:
		p.println(ev.Time, p.st.paint(red, "aborted: ")+oneLine(ev.Msg))
	case engine.EventDrain:
		p.println(ev.Time, p.st.paint(yellow, oneLine(ev.Msg)))
	}
	p.redraw()
}

func (p *progress) finish(ev engine.FleetEvent) {
	h := ev.Report
	for i, name := range p.inflight {
		if name == ev.Host {
			p.inflight = append(p.inflight[:i], p.inflight[i+1:]...)
			break
		}
	}
	delete(p.step, ev.Host)
	p.finished++
	var text string
	switch {
	case h.Result.Succeeded():
		text = fmt.Sprintf("%s%s: %s in %s%s", p.st.ok(), h.Host, h.Result, h.Duration.Round(time.Millisecond), stateNote(h))
	default:
		p.failed++
		why := ""
		if h.Err != nil {
			why = ": " + oneLine(engine.FailureAt(h.Err, h.Host, h.Service))
			if t := engine.LogTail(h.Err); t != nil && t.Reason != "" {
				why += "\n    log: " + t.Reason
			}
		}
		text = fmt.Sprintf("%s%s: %s%s%s", p.st.bad(), h.Host, strings.ToUpper(string(h.Result)), inDuration(h), why)
	}
	p.println(ev.Time, text)
}

func inDuration(h *engine.HostReport) string {
	if h.Duration == 0 {
		return ""
	}
	return " in " + h.Duration.Round(time.Millisecond).String()
}

// stateNote says how a finished host is: " (running, pid 4242, healthy)".
func stateNote(h *engine.HostReport) string {
	out := h.Outcome
	if out == nil || !recorded(out) {
		return ""
	}
	parts := []string{out.State.Status}
	if out.State.PID > 0 {
		parts = append(parts, fmt.Sprintf("pid %d", out.State.PID))
	}
	if out.Health != nil {
		if out.Health.Passed() && out.Health.Degraded() != "" {
			parts = append(parts, "degraded")
		} else if out.Health.Passed() {
			parts = append(parts, "healthy")
		} else {
			parts = append(parts, "unhealthy")
		}
	}
	if h.Ready != "" {
		parts = append(parts, h.Ready)
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// line prints a line now (the header).
func (p *progress) line(text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.println(time.Now(), text)
}

// println prints one finished line: above the live region on a terminal,
// with a UTC timestamp elsewhere.
func (p *progress) println(at time.Time, text string) {
	if !p.live {
		fmt.Fprintf(p.w, "%s %s\n", at.UTC().Format(time.RFC3339), text)
		return
	}
	p.clear()
	fmt.Fprintln(p.w, text)
}

// maxLiveHosts bounds the hosts the live view lists.
const maxLiveHosts = 8

// redraw draws the live region: a status line and the hosts in flight.
func (p *progress) redraw() {
	if !p.live {
		return
	}
	p.clear()
	var b strings.Builder
	status := fmt.Sprintf("%s: %d of %s finished", verbs[p.action].doing, p.finished, plural.N(p.total, "host", "hosts"))
	if p.batches > 0 {
		status = fmt.Sprintf("%s · batch %d/%d", status, p.batch, p.batches)
	}
	if p.failed > 0 {
		status += " · " + p.st.paint(red, fmt.Sprintf("%d failed", p.failed))
	}
	b.WriteString(p.st.paint(bold, status) + "\n")
	lines := 1
	for i, h := range p.inflight {
		if i == maxLiveHosts {
			fmt.Fprintf(&b, "  … and %d more\n", len(p.inflight)-maxLiveHosts)
			lines++
			break
		}
		fmt.Fprintf(&b, "  %-20s %-15s %5.1fs\n", h, p.step[h], time.Since(p.since[h]).Seconds())
		lines++
	}
	fmt.Fprint(p.w, b.String())
	p.drawn = lines
}

// clear erases the live region: back to the first column (the terminal
// may have echoed ^C after the region), up to the region's first line,
// erase to the end of the screen.
func (p *progress) clear() {
	if p.drawn > 0 {
		fmt.Fprintf(p.w, "\r\x1b[%dA\x1b[J", p.drawn)
		p.drawn = 0
	}
}
