package cli

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// rrFleet: the testfleet with worker1..4 on 127.0.57.first+1..4, container-runtime running.
func rrFleet(t *testing.T, first int) *testfleet.Fleet {
	addr := func(i int) string { return "127.0.57." + strconv.Itoa(first+i) }
	f := testfleet.Start(t, testfleet.Options{BastionAddr: addr(0), WorkerAddr: addr(1),
		MoreWorkers: []string{addr(2), addr(3), addr(4)}})
	mustRun(t, f, "service", "start", "worker", "container-runtime")
	return f
}

type rrDoc struct {
	Result   string         `json:"result"`
	ExitCode int            `json:"exit_code"`
	Aborted  string         `json:"aborted"`
	Summary  map[string]int `json:"summary"`
	Hosts    []struct {
		Host   string `json:"host"`
		Result string `json:"result"`
		Error  string `json:"error"`
	} `json:"hosts"`
}

func rrParse(t *testing.T, out, errOut string) (rrDoc, map[string]string) {
	t.Helper()
	var d rrDoc
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("json: %v\n%s\n%s", err, out, errOut)
	}
	m := map[string]string{}
	for _, h := range d.Hosts {
		m[h.Host] = h.Result
	}
	return d, m
}

// rrTrigger calls fn once stderr matches re.
type rrTrigger struct {
	mu   sync.Mutex
	buf  strings.Builder
	re   *regexp.Regexp
	once sync.Once
	fn   func()
}

func (w *rrTrigger) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.re.MatchString(w.buf.String()) {
		w.once.Do(w.fn)
	}
	return len(p), nil
}

func (w *rrTrigger) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
