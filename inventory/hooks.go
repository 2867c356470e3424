package inventory

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// Hook is one lifecycle hook of a service: a shell snippet run before or
// after its stop or start (see Hooks).
type Hook struct {
	Run string // the snippet, run with `sh -c`
	// On is where it runs: HookSelf (the service's host, the default),
	// HookLocal (the machine running omni) or the name of an inventory host.
	On        string
	Timeout   time.Duration // default DefaultHookTimeout
	OnFailure string        // HookAbort or HookWarn; the default depends on the kind (DefaultOnFailure)
	Line      int           // line of the hook in the file
}

// Hooks are a service's lifecycle hooks, each list run in order.
type Hooks struct {
	PreStop, PostStop, PreStart, PostStart []Hook
}

// Where a hook runs, and what its failure does.
const (
	HookSelf  = "self"
	HookLocal = "local"
	HookAbort = "abort"
	HookWarn  = "warn"
	// DefaultHookTimeout bounds each hook that sets no timeout.
	DefaultHookTimeout = 30 * time.Second
)

// HookKinds are the inventory keys of the hooks, in the order a restart
// runs them.
var HookKinds = []string{"pre_stop", "post_stop", "pre_start", "post_start"}

// DefaultOnFailure is what a failed hook of the kind does when it says
// nothing: a failed post_stop is a warning (the service is stopped either
// way), any other aborts the operation.
func DefaultOnFailure(kind string) string {
	if kind == "post_stop" {
		return HookWarn
	}
	return HookAbort
}

// Of returns the hooks of one kind (a key of HookKinds).
func (h *Hooks) Of(kind string) []Hook {
	switch kind {
	case "pre_stop":
		return h.PreStop
	case "post_stop":
		return h.PostStop
	case "pre_start":
		return h.PreStart
	case "post_start":
		return h.PostStart
	}
	return nil
}

func (h *Hooks) ref(kind string) *[]Hook {
	switch kind {
	case "pre_stop":
		return &h.PreStop
	case "post_stop":
		return &h.PostStop
	case "pre_start":
		return &h.PreStart
	}
	return &h.PostStart
}

var hookKeys = []string{"run", "on", "timeout", "on_failure"}

// hooks decodes the service's hook lists.
func (l *loader) hooks(f map[string]entry, s *Service) {
	for _, kind := range HookKinds {
		x, ok := f[kind]
		if !ok || isNull(x.val) {
			continue
		}
		where := fmt.Sprintf("in service %q", s.Name)
		if x.val.Kind != yaml.SequenceNode {
			l.errorf(x.line(), "invalid %s %s: must be a list of hooks ({run: SNIPPET}), got %s", kind, where, describe(x.val))
			continue
		}
		dst := s.Hooks.ref(kind)
		for i, n := range x.val.Content {
			line := n.Line // an alias's own line: the hook is used there
			n = resolve(n)
			what := fmt.Sprintf("hook %d of %s of service %q", i+1, kind, s.Name)
			hf, ok := l.fields(n, line, what, hookKeys...)
			if !ok {
				continue
			}
			h := Hook{On: HookSelf, Timeout: DefaultHookTimeout, OnFailure: DefaultOnFailure(kind), Line: line}
			hwhere := "in " + what
			if r, ok := hf["run"]; ok {
				h.Run, _ = l.str(r, hwhere)
			} else {
				l.errorf(line, "missing required key %q in %s", "run", what)
			}
			if o, ok := hf["on"]; ok {
				if v, ok := l.str(o, hwhere); ok {
					h.On = v
				}
			}
			if t, ok := hf["timeout"]; ok {
				if v, ok := l.duration(t, hwhere, true); ok {
					h.Timeout = v
				}
			}
			if p, ok := hf["on_failure"]; ok {
				if v, ok := l.str(p, hwhere); ok {
					if v != HookAbort && v != HookWarn {
						l.invalid(p, hwhere, "%q is not a policy (want %q or %q)", v, HookAbort, HookWarn)
					} else {
						h.OnFailure = v
					}
				}
			}
			*dst = append(*dst, h)
		}
	}
}

// checkHooks checks that each hook's `on` names a defined host (or self,
// local), and that no host is named like the keywords it would shadow.
func (l *loader) checkHooks(inv *Inventory) {
	for _, s := range inv.Services {
		for _, kind := range HookKinds {
			for i, h := range s.Hooks.Of(kind) {
				switch {
				case h.On == HookSelf || h.On == HookLocal:
					if inv.hosts[h.On] != nil {
						l.errorf(h.Line, "hook %d of %s of service %q: on: %q is ambiguous, a host has that name: rename the host", i+1, kind, s.Name, h.On)
					}
				case inv.hosts[h.On] == nil:
					l.errorf(h.Line, "hook %d of %s of service %q: on: host %q is not defined (want %q, %q or a host)%s",
						i+1, kind, s.Name, h.On, HookSelf, HookLocal, l.suggest(h.On, inv.HostNames))
				}
			}
		}
	}
}
