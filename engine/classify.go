package engine

import (
	"context"
	"errors"

	"github.com/omni-fleet/omni/engine/config"
	"github.com/omni-fleet/omni/engine/sshconfig"
	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/registry"
)

// Class is what became of a run, of one host's part of it, or of an
// error: the word the registry's events record, from which the cli
// derives its exit code (cli/exitcode.go) and a fleet run the result of
// each host. Classify decides it for an error, Tally for a run over
// several targets (FleetReport.Class is a Tally).
type Class string

// The classes.
const (
	ClassOK          Class = "ok"
	ClassFailed      Class = "failed"      // a step or a health check failed
	ClassError       Class = "error"       // usage: a bad request, inventory or registry file; nothing was touched
	ClassPartial     Class = "partial"     // a fleet run: some hosts done, others not
	ClassUnreachable Class = "unreachable" // a host could not be connected to, authenticated or trusted
	ClassRefused     Class = "refused"     // not confirmed, locked, or the registry busy: nothing was touched
	ClassInterrupted Class = "interrupted" // SIGINT/SIGTERM
)

// Classify says what kind of failure err is (ClassOK for nil). A host is
// unreachable only when transport.IsUnreachable says so: one that answered
// and failed is failed.
func Classify(err error) Class {
	var (
		notFound   *inventory.NotFoundError
		badTarget  *inventory.TargetError
		invalid    inventory.ErrorList
		planErr    *UsageError
		sshCfg     *sshconfig.Error
		runRefused *RefusedError
		locked     *registry.LockedError
		regFile    *registry.FileError
		regEtcd    *registry.EtcdError
		step       *StepError
		render     *config.RenderError
	)
	switch {
	case err == nil:
		return ClassOK
	case errors.Is(err, context.Canceled):
		return ClassInterrupted
	case errors.As(err, &notFound), errors.As(err, &badTarget), errors.As(err, &invalid), errors.As(err, &planErr),
		errors.As(err, &sshCfg):
		return ClassError
	case errors.As(err, &render) && !errors.As(err, &step):
		// A declaration that cannot be rendered (a source missing, a
		// secret's variable unset): an inventory error at FILE:LINE, found
		// before the command touched a host, in every config command. In a
		// run's config step, it fails that step.
		return ClassError
	case (errors.As(err, &regFile) || errors.As(err, &regEtcd)) && !errors.As(err, &step):
		// Found when the registry (a file or an etcd cluster) is opened
		// and checked, before any host is touched: nothing changed. Busy
		// is another process, as a held lock is (try again later); the
		// rest needs the file, or the cluster's configuration, fixed.
		if regFile != nil && regFile.Problem == registry.FileBusy {
			return ClassRefused
		}
		return ClassError
	case errors.As(err, &runRefused), errors.As(err, &locked):
		return ClassRefused
	case transport.IsUnreachable(err):
		return ClassUnreachable
	}
	return ClassFailed
}

// hostResult is how an error leaves the host host of a fleet run:
// interrupted, unreachable, or else failed (a refusal on one host is a
// failure of the run there). It is unreachable only when host's own
// connection (or one to a bastion in front of it) could not be opened or
// was lost: a host that answered, whose plan failed because another host
// (a dependency's, a dependent's) could not be reached, failed, and its
// error names that host.
func hostResult(err error, host string) HostResult {
	switch ClassifyFor(err, host) {
	case ClassInterrupted:
		return HostInterrupted
	case ClassUnreachable:
		return HostUnreachable
	}
	return HostFailed
}

// ClassifyFor is Classify for the part of a fleet run on host: an error
// that is another host's unreachability (see unreachableHost) is a
// failure of host, which answered, not an unreachable host.
func ClassifyFor(err error, host string) Class {
	c := Classify(err)
	if c == ClassUnreachable {
		if other := unreachableHost(err); other != "" && other != host {
			return ClassFailed
		}
	}
	return c
}

// connectError is a connection a run (or a look) wanted to a host and
// could not open; Host is that host, whichever hop of its way failed (its
// error may name a bastion in front of it). Its text is the error's.
type connectError struct {
	Host string
	Err  error
}

func (e *connectError) Error() string { return e.Err.Error() }
func (e *connectError) Unwrap() error { return e.Err }

// unreachableHost is the host whose connection err says could not be
// opened or was lost: the host a run connected to (connectError), else the
// host the error names (a connection lost during a command is the
// connection to that host); "" when err is no such failure.
func unreachableHost(err error) string {
	var (
		conn        *connectError
		unreachable *transport.UnreachableError
		auth        *transport.AuthError
		hostKey     *transport.HostKeyError
	)
	switch {
	case !transport.IsUnreachable(err):
		return ""
	case errors.As(err, &conn):
		return conn.Host
	case errors.As(err, &unreachable):
		return unreachable.Host
	case errors.As(err, &auth):
		return auth.Host
	case errors.As(err, &hostKey):
		return hostKey.Host
	}
	return ""
}

// Class is a fleet run's result, by the rule of every run over several
// targets (Tally.Class): interrupted; ok when every host is done; partial
// when some are done, others not; when none is done, unreachable when
// every failure is a host that could not be reached, refused when none
// failed (nothing was touched), failed otherwise.
func (rep *FleetReport) Class() Class {
	t := Tally{Interrupted: rep.Interrupted}
	if rep.LockLost != nil {
		// Cut short, and another run may have acted on its hosts: never
		// ok; partial when some hosts are done, else failed.
		t.AddClass(ClassFailed)
	}
	for _, h := range rep.Hosts {
		switch h.Result {
		case HostDone, HostUnchanged:
			t.OK++
		case HostUntouched:
			t.Untouched++
		default:
			t.AddClass(hostClass(h.Result))
		}
	}
	return t.Class()
}

// hostClass is the class of a host's failure in a fleet run.
func hostClass(r HostResult) Class {
	switch r {
	case HostUnreachable:
		return ClassUnreachable
	case HostInterrupted:
		return ClassInterrupted
	}
	return ClassFailed
}
