package manager

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/omni-fleet/omni/internal/shell"
)

// StatusResult is one manager's state, or why it could not be read.
type StatusResult struct {
	State State
	Err   error
}

// batchProperties are what a read of several units asks for: Id and
// Names, which tie each block of the output to the unit it was asked
// for, then what Status reads.
const batchProperties = "Id,Names," + showProperties

// StatusAll reads the state of each manager of ms, all of one host, over
// r; the results are in the order of ms, each as the manager's own Status
// would give it. The systemd units among them that run with the same sudo
// are read together in one `systemctl show` (one round trip for all of
// them, not one each). Any other manager reads with its own Status. When
// the joint read fails as a command (a unit name systemctl refuses) or its
// output does not match the units block by block, each of its units is
// read on its own, so that each gets its own state or error; when it
// cannot run at all (the connection failed, the command timed out, sudo
// refused), every one of its units carries that one error, which names the
// batch, not a unit: it is one failure of the host's.
func StatusAll(ctx context.Context, r Runner, ms []Manager) []StatusResult {
	out := make([]StatusResult, len(ms))
	groups := map[bool][]int{} // by sudo: the systemd units read together
	for i, m := range ms {
		if s, ok := m.(*systemdManager); ok {
			groups[s.sudo] = append(groups[s.sudo], i)
		}
	}
	done := make([]bool, len(ms))
	for _, sudo := range []bool{false, true} {
		idx := groups[sudo]
		if len(idx) < 2 {
			continue
		}
		units := make([]*systemdManager, len(idx))
		for k, i := range idx {
			units[k] = ms[i].(*systemdManager)
		}
		res, ok := showAll(ctx, r, units)
		if !ok {
			continue
		}
		for k, i := range idx {
			out[i], done[i] = res[k], true
		}
	}
	for i, m := range ms {
		if !done[i] {
			st, err := m.Status(ctx, r)
			out[i] = StatusResult{State: st, Err: err}
		}
	}
	return out
}

// showAllCommand is the one command that reads every unit of units (all
// with the same sudo).
func showAllCommand(units []*systemdManager) string {
	names := make([]string, len(units))
	for i, u := range units {
		names[i] = shell.Quote(u.unit)
	}
	return units[0].command(hostClockLine + "systemctl show -p " + batchProperties + " --no-pager -- " + strings.Join(names, " "))
}

// showAll reads units in one command. ok is false when each unit should
// be read on its own instead (see StatusAll).
func showAll(ctx context.Context, r Runner, units []*systemdManager) ([]StatusResult, bool) {
	out := make([]StatusResult, len(units))
	res, err := run(ctx, r, showAllCommand(units))
	if err != nil {
		// One command failed, not each unit: the same error for all, so
		// that it is said once for the host, not once per unit.
		err = fmt.Errorf("status: systemctl show of %d units: %w", len(units), err)
		for i := range units {
			out[i].Err = err
		}
		return out, true
	}
	if res.ExitCode != 0 {
		return nil, false
	}
	clock, rest := cutHostClock(res.Stdout)
	blocks := showBlocks(rest)
	if len(blocks) != len(units) {
		return nil, false
	}
	for i, u := range units {
		if !blockIsUnit(blocks[i], u.unit) {
			return nil, false
		}
	}
	for i, u := range units {
		info, err := parseShow(append(append([]byte(nil), clock...), append([]byte("\n"), blocks[i]...)...))
		if err != nil {
			out[i].Err = fmt.Errorf("status: systemctl show %s: %w", u.unit, err)
			continue
		}
		out[i].State = info.state()
	}
	return out, true
}

// showBlocks splits the output of `systemctl show` of several units into
// one block per unit: systemctl prints them in the order it was given the
// units, separated by an empty line.
func showBlocks(out []byte) [][]byte {
	var blocks [][]byte
	for _, b := range bytes.Split(bytes.ReplaceAll(out, []byte("\r\n"), []byte("\n")), []byte("\n\n")) {
		if len(bytes.TrimSpace(b)) > 0 {
			blocks = append(blocks, b)
		}
	}
	return blocks
}

// blockIsUnit says whether a block of `systemctl show` is about unit: its
// Id or one of its Names (an alias's block has the unit's own Id) is
// unit, or unit with the ".service" systemctl adds to a name without a
// type.
func blockIsUnit(block []byte, unit string) bool {
	want := []string{unit, unit + ".service"}
	for key, value := range keyValues(block) {
		if key != "Id" && key != "Names" {
			continue
		}
		for _, name := range strings.Fields(value) {
			if slices.Contains(want, name) {
				return true
			}
		}
	}
	return false
}
