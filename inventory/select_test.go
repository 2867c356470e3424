package inventory

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestSelect(t *testing.T) {
	inv := loadExample(t)
	cases := []struct {
		target string
		want   []string
	}{
		{"worker1", []string{"worker1"}},
		{"worker", []string{"worker1", "worker2", "worker3"}},
		{"worker*", []string{"worker1", "worker2", "worker3"}},
		{"worker[13]", []string{"worker1", "worker3"}},
		{"worker?", []string{"worker1", "worker2", "worker3"}},
		{"worker3,primary-bastion", []string{"primary-bastion", "worker3"}},     // declaration order
		{"worker1, worker*,worker1", []string{"worker1", "worker2", "worker3"}}, // each once
		{"bastion,monitoring", []string{"primary-bastion", "secondary-bastion", "monitor1"}},
		{"all", []string{"primary-bastion", "secondary-bastion", "worker1", "worker2", "worker3", "monitor1"}},
	}
	for _, c := range cases {
		hosts, err := inv.Select(c.target)
		if err != nil {
			t.Errorf("Select(%q): %v", c.target, err)
			continue
		}
		var got []string
		for _, h := range hosts {
			got = append(got, h.Name)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Select(%q) = %v, want %v", c.target, got, c.want)
		}
	}
}

func TestSelectErrors(t *testing.T) {
	inv := loadExample(t)
	cases := []struct{ target, want string }{
		{"wroker1", `unknown host or role "wroker1" (did you mean "worker1"?)`},
		{"worker1,wrker", `unknown host or role "wrker" (did you mean "worker"?)`},
		{"db*", `target "db*": the glob matches no host`},
		{"worker[", `target "worker[": bad glob pattern`},
		{"worker1,,worker2", `empty element`},
		{"", `empty target`},
	}
	for _, c := range cases {
		_, err := inv.Select(c.target)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Select(%q) error = %v, want %q", c.target, err, c.want)
		}
		var nf *NotFoundError
		var te *TargetError
		if err != nil && !errors.As(err, &nf) && !errors.As(err, &te) {
			t.Errorf("Select(%q) error is %T, want *NotFoundError or *TargetError", c.target, err)
		}
	}
	if !inv.IsHost("worker1") || inv.IsHost("worker") || inv.IsHost("worker*") {
		t.Error("IsHost: want true only for a host name")
	}
}
