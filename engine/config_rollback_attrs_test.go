package engine

import (
	"strings"
	"testing"

	"github.com/omni-fleet/omni/registry"
)

// The last apply's attributes: put back where the registry recorded them
// (with the content, or alone for an apply that changed only them), and a
// refusal, never an older apply undone, where it did not (an older omni).
func TestLastApplyWantsAttributes(t *testing.T) {
	req := ConfigRollbackRequest{Host: "h1", Service: "app"}
	older := registry.Event{ID: "e1", Host: "h1", Service: "app", Config: []registry.ConfigChange{
		{Path: "/etc/app.conf", Kind: "file", Old: "sha256:aa", New: "sha256:bb", Action: registry.ConfigWritten, OldMode: "0644"}}}
	attrs := registry.Event{ID: "e2", Host: "h1", Service: "app", Config: []registry.ConfigChange{
		{Path: "/etc/app.conf", Kind: "file", Old: "sha256:bb", New: "sha256:bb", Action: registry.ConfigAttrs,
			OldMode: "0644", OldOwner: "app", OldGroup: "app"}}}
	wants, undoes, err := lastApplyWants([]registry.Event{attrs, older}, req)
	if err != nil || undoes != "e2" || len(wants) != 1 {
		t.Fatalf("attributes recorded: %v %q %+v; want the apply e2", err, undoes, wants)
	}
	if w := wants[0]; !w.attrsOnly || w.hash != "sha256:bb" || w.mode != 0o644 || w.owner != "app" || w.group != "app" {
		t.Fatalf("attributes recorded: %+v", w)
	}
	wants, undoes, err = lastApplyWants([]registry.Event{older}, req)
	if err != nil || undoes != "e1" || wants[0].hash != "sha256:aa" || wants[0].mode != 0o644 || wants[0].attrsOnly {
		t.Fatalf("content with its mode: %v %q %+v", err, undoes, wants)
	}
	attrs.Config[0].OldMode, attrs.Config[0].OldOwner, attrs.Config[0].OldGroup = "", "", ""
	_, _, err = lastApplyWants([]registry.Event{attrs, older}, req)
	if Classify(err) != ClassRefused || !strings.Contains(err.Error(), "changed only the mode, owner or group") {
		t.Fatalf("attributes not recorded: %v; want a refusal, not the older apply", err)
	}
}
