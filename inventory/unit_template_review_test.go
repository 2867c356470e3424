package inventory

import (
	"strings"
	"testing"
)

// TestUnitTemplateWithoutInstanceIsRefused (found by review): a unit that
// is a template with no instance (`unit: tmpl@.service`) is a file name,
// not a unit systemd can act on: systemctl show refuses it ("Unit name
// tmpl@.service is neither a valid invocation ID nor unit name"), and so
// do start and stop ("missing the instance name"). The inventory takes it
// (unitSafeRE only checks the characters), so every status, start, stop
// and restart of the service fails on the host with exit 1, and each
// status of the host makes its one batched systemctl show fail, reading
// every other unit of the host one by one. It should be refused at load,
// FILE:LINE, exit 2, as a pattern is.
func TestUnitTemplateWithoutInstanceIsRefused(t *testing.T) {
	content := "version: 1\nhosts:\n  h1: {address: 10.0.0.1, roles: [r]}\nroles:\n  r: [a, b]\nservices:\n" +
		"  a: {unit: \"tmpl@.service\"}\n" +
		"  b: {unit: \"tmpl@x.service\"}\n"
	_, err := Parse("inv.yaml", []byte(content))
	if err == nil || !strings.Contains(err.Error(), "inv.yaml:7:") || !strings.Contains(err.Error(), "tmpl@.service") {
		t.Errorf("unit tmpl@.service (a template without an instance): Load = %v, want an error at inv.yaml:7 naming it", err)
	}
	if err != nil && strings.Contains(err.Error(), "tmpl@x.service") {
		t.Errorf("tmpl@x.service is an instance, a unit name: %v", err)
	}
}
