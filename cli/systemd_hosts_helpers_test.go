package cli

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/sshtest"
	"github.com/omni-fleet/omni/internal/testkit/systemdtest"
)

// bootSystemdHost boots one systemd host at addr with the given units (unit
// file name -> body, kept loaded by a refs unit) and users (non-root,
// passwordless sudo), and writes an inventory whose hosts: and services:
// are hosts and services (YAML, indented by two), every host in the role
// worker running every service of services. The defaults: systemd,
// stop_grace 10s, start_timeout 20s, no health checks unless services
// declare them.
func bootSystemdHost(t *testing.T, name, addr string, unitFiles map[string]string, users []string, hosts, services string) (*systemdtest.Host, *sdFleet) {
	t.Helper()
	names := slices.Sorted(maps.Keys(unitFiles))
	files := map[string]string{"/etc/systemd/system/refs.service": "[Unit]\nAfter=" + strings.Join(names, " ") +
		"\n\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n"}
	for _, n := range names {
		files["/etc/systemd/system/"+n] = unitFiles[n]
	}
	h := systemdtest.Boot(t, systemdtest.Options{Name: name, Addr: addr, Files: files, Users: users, Enable: []string{"refs.service"}})
	dir := t.TempDir()
	known, err := os.ReadFile(h.KnownHostsFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "known_hosts"), known, 0o644); err != nil {
		t.Fatal(err)
	}
	var svcNames []string
	for _, line := range strings.Split(services, "\n") {
		if strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   ") {
			if n, _, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
				svcNames = append(svcNames, n)
			}
		}
	}
	inv := `version: 1
defaults:
  identity_file: ` + sshtest.ClientKey(t) + `
  known_hosts: known_hosts
  manager: systemd
  stop_grace: 10s
  start_timeout: 20s
registry:
  path: registry.db
hosts:
` + hosts + `roles:
  worker: [` + strings.Join(svcNames, ", ") + `]
services:
` + services
	f := &sdFleet{inventory: filepath.Join(dir, "inventory.yaml")}
	if err := os.WriteFile(f.inventory, []byte(inv), 0o644); err != nil {
		t.Fatal(err)
	}
	return h, f
}
