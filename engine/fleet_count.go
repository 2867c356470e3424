package engine

import (
	"fmt"
	"strconv"
	"strings"
)

// Count is a number of hosts, absolute ("3") or a share of the target
// ("25%").
type Count struct {
	N       int
	Percent bool
}

// ParseCount reads "N" or "N%".
func ParseCount(s string) (Count, error) {
	t := strings.TrimSpace(s)
	pct := strings.HasSuffix(t, "%")
	n, err := strconv.Atoi(strings.TrimSuffix(t, "%"))
	if err != nil || n < 0 || (pct && n > 100) {
		return Count{}, fmt.Errorf("%q is not a count: want N or N%% (0-100%%)", s)
	}
	return Count{N: n, Percent: pct}, nil
}

func (c Count) String() string {
	if c.Percent {
		return strconv.Itoa(c.N) + "%"
	}
	return strconv.Itoa(c.N)
}

// Of resolves c against a target of total hosts. A percentage rounds down,
// as kubectl's maxUnavailable does: 10% of 15 hosts is 1.
func (c Count) Of(total int) int {
	if c.Percent {
		return total * c.N / 100
	}
	return c.N
}
