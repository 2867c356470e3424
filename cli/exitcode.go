package cli

import (
	"context"
	"errors"

	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/engine/sshconfig"
	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/registry"
)

// Exit codes, documented in --help and the README.
const (
	ExitOK          = 0   // everything succeeded
	ExitFailed      = 1   // a step or health check failed
	ExitUsage       = 2   // bad usage, the inventory/playbooks are invalid, or the registry file cannot be used
	ExitPartial     = 3   // some targets failed, others succeeded
	ExitUnreachable = 4   // a host could not be reached, authenticated or trusted
	ExitRefused     = 5   // not confirmed, or would need a prompt without a terminal
	ExitInterrupted = 130 // SIGINT/SIGTERM
)

const exitCodesHelp = `Exit codes: 0 success; 1 failed (a step or health check; service status: a listed
service not running and healthy); 2 usage or inventory
error, or a registry file that cannot be read or written (damaged, read-only); 3 partial (a fleet run: some hosts done, others failed, unreachable or untouched);
4 host unreachable or connection lost, authentication refused or host key not trusted; 5 refused (not
confirmed, no terminal to confirm: pass --yes, another run holds the lock, or another
process holds the registry file); 130
interrupted (a fleet run: the first SIGINT/SIGTERM touches no new host, a second cancels
the steps in flight).`

// refusedError is a run omni declined to start: exit 5.
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }

// usageError is a command line that makes no sense: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// exitCode maps an error to the process exit code. It is the only place
// that does.
func exitCode(err error) int {
	var (
		notFound   *inventory.NotFoundError
		badTarget  *inventory.TargetError
		invalid    inventory.ErrorList
		planErr    *engine.UsageError
		usage      *usageError
		refused    *refusedError
		sshCfg     *sshconfig.Error
		runRefused *engine.RefusedError
		locked     *registry.LockedError
		regFile    *registry.FileError
		step       *engine.StepError
	)
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, context.Canceled):
		return ExitInterrupted
	case errors.As(err, &notFound), errors.As(err, &badTarget), errors.As(err, &invalid), errors.As(err, &planErr), errors.As(err, &usage),
		errors.As(err, &sshCfg):
		return ExitUsage
	case errors.As(err, &regFile) && !errors.As(err, &step):
		// Found when the registry is opened and checked, before any host
		// is touched: nothing changed. Busy is another process, as a held
		// lock is (try again later); the rest needs the file fixed.
		if regFile.Problem == registry.FileBusy {
			return ExitRefused
		}
		return ExitUsage
	case errors.As(err, &refused), errors.As(err, &runRefused), errors.As(err, &locked):
		return ExitRefused
	case transport.IsUnreachable(err):
		return ExitUnreachable
	default:
		return ExitFailed
	}
}
