package lab

import "github.com/omni-fleet/omni/inventory"

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
