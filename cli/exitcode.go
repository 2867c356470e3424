package cli

import (
	"context"
	"errors"

	"github.com/omni-fleet/omni/engine"
)

// Exit codes, documented in --help and the README.
const (
	ExitOK          = 0   // everything succeeded
	ExitFailed      = 1   // a step or health check failed
	ExitUsage       = 2   // bad usage, the inventory/playbooks are invalid, or the registry cannot be used
	ExitPartial     = 3   // some targets failed, others succeeded
	ExitUnreachable = 4   // a host could not be reached, authenticated or trusted
	ExitRefused     = 5   // not confirmed, or would need a prompt without a terminal
	ExitDiffers     = 6   // config diff: something differs or a restart is pending
	ExitInterrupted = 130 // SIGINT/SIGTERM
)

const exitCodesHelp = `Exit codes: 0 success; 1 failed (a step or health check; service status: a listed
service not running and healthy); 2 usage or inventory
error, or a registry that cannot be used (a file damaged or read-only; an etcd that does not answer or refuses); 3 partial (a fleet run: some hosts done, others failed, unreachable or untouched);
4 host unreachable or connection lost, authentication refused or host key not trusted; 5 refused (not
confirmed, no terminal to confirm: pass --yes, another run holds the lock, or another
process holds the registry file); 6 config diff: something differs or a restart is pending; 130
interrupted (a fleet run: the first SIGINT/SIGTERM touches no new host, a second cancels
the steps in flight).`

// refusedError is a run omni declined to start: exit 5.
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }

// usageError is a command line that makes no sense: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// exitCode maps an error to the process exit code. It is the only place
// that does: the cli's own refusals and usage errors, then the class the
// engine gives every other error (engine.Classify), the one the registry
// records and a fleet run's hosts get.
func exitCode(err error) int {
	var (
		usage   *usageError
		refused *refusedError
	)
	switch {
	case errors.Is(err, context.Canceled):
		return ExitInterrupted
	case errors.As(err, &usage):
		return ExitUsage
	case errors.As(err, &refused):
		return ExitRefused
	}
	return classCode(engine.Classify(err))
}

// classCode is the exit code of a class of result.
func classCode(c engine.Class) int {
	switch c {
	case engine.ClassOK:
		return ExitOK
	case engine.ClassError:
		return ExitUsage
	case engine.ClassPartial:
		return ExitPartial
	case engine.ClassUnreachable:
		return ExitUnreachable
	case engine.ClassRefused:
		return ExitRefused
	case engine.ClassInterrupted:
		return ExitInterrupted
	}
	return ExitFailed
}
