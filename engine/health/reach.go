package health

import (
	"context"

	"github.com/omni-fleet/omni/inventory"
)

// Retry runs fn as the checks of Run are run: each attempt bounded by
// spec.Timeout, retried until it passes or spec's budget (retries ×
// interval) is spent. The result is named name.
func Retry(ctx context.Context, spec inventory.Health, name string, fn func(context.Context) error) Result {
	return retry(ctx, spec, name, fn, nil)
}

// Probe sends one GET of url over a connection dialled through d and
// checks that the answer's status is expect (Run's HTTP check).
func Probe(ctx context.Context, d Dialer, url string, expect int) error {
	return httpCheck(ctx, d, url, expect)
}
