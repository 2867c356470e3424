package lab

import (
	"strconv"

	"github.com/omni-fleet/omni/internal/shell"
	"github.com/omni-fleet/omni/inventory"
)

// yamlHook is a lifecycle hook as the lab inventory writes it: the source
// inventory's, as is (the lab's hosts have the same names; a hook on
// local runs on the machine running omni, as it would for the fleet).
type yamlHook struct {
	Run       string `yaml:"run"`
	On        string `yaml:"on"`
	Timeout   string `yaml:"timeout"`
	OnFailure string `yaml:"on_failure"`
}

// yamlHooks are a service's hooks in the lab inventory.
type yamlHooks struct {
	PreStop   []yamlHook `yaml:"pre_stop,omitempty"`
	PostStop  []yamlHook `yaml:"post_stop,omitempty"`
	PreStart  []yamlHook `yaml:"pre_start,omitempty"`
	PostStart []yamlHook `yaml:"post_start,omitempty"`
}

// labHooks copies a service's hooks into the lab inventory.
func labHooks(h inventory.Hooks) yamlHooks {
	conv := func(list []inventory.Hook) []yamlHook {
		var out []yamlHook
		for _, x := range list {
			out = append(out, yamlHook{Run: x.Run, On: x.On, Timeout: duration(x.Timeout), OnFailure: x.OnFailure})
		}
		return out
	}
	return yamlHooks{PreStop: conv(h.PreStop), PostStop: conv(h.PostStop), PreStart: conv(h.PreStart), PostStart: conv(h.PostStart)}
}

// labDrained are the services the lab drains through hooks before they
// stop: the gateway, which takes the clients' requests. A real fleet would
// drain it in its load balancer (the example inventory shows the built-in
// HAProxy drain, in comments); the lab needs only omni, so its hooks ask
// the demo service itself: `omni lab drain`.
var labDrained = map[string]bool{"api-gateway": true}

// labDrainTimeout bounds the wait for the requests in flight; the hook's
// own timeout is a little longer.
const labDrainTimeout = "20s"

// withLabDrain adds the drain hooks to a lab service listening on port:
// pre_stop drains it (new requests get 503, the requests in flight finish);
// post_stop, when the stop failed and the old process still runs, takes it
// back. Both warn instead of failing: a service that is already dead (a
// crash) must still be stoppable and restartable.
func withLabDrain(h yamlHooks, omni string, port int) yamlHooks {
	addr := `"$OMNI_ADDRESS:` + strconv.Itoa(port) + `"`
	drain := shell.Quote(omni) + " lab drain " + addr + " --timeout " + labDrainTimeout
	undo := `[ "$OMNI_RESULT" != failed ] || ` + shell.Quote(omni) + " lab drain --undo " + addr
	h.PreStop = append(h.PreStop, yamlHook{Run: drain, On: "self", Timeout: "30s", OnFailure: "warn"})
	h.PostStop = append(h.PostStop, yamlHook{Run: undo, On: "self", Timeout: "30s", OnFailure: "warn"})
	return h
}
