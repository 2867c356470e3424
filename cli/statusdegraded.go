package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/omni-fleet/omni/internal/plural"
)

// writeDegraded says on w which services run and pass their health but
// are degraded: an optional reach check failed (their host cannot reach
// a service they require). Degraded does not fail the status check (exit
// 0): the inventory said the edge is optional.
func writeDegraded(w io.Writer, rows []statusRow) {
	var names []string
	for _, r := range rows {
		if d, ok := strings.CutPrefix(r.Health, "degraded: "); ok {
			names = append(names, r.Service+"@"+r.Host+" ("+d+")")
		}
	}
	if len(names) > 0 {
		fmt.Fprintf(w, "omni: %s degraded: %s\n", plural.N(len(names), "service is", "services are"), strings.Join(names, ", "))
	}
}
