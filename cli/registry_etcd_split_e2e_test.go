package cli

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// TestEtcdInventoryRefusesARegistryFile (found by review): --registry or
// OMNI_REGISTRY naming a file while the inventory's registry is etcd
// would split the team's locks (a run locking in the file never sees
// those on etcd): refused, exit 2, naming both.
func TestEtcdInventoryRefusesARegistryFile(t *testing.T) {
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.95.53", WorkerAddr: "127.0.95.54"})
	dead := "http://" + net.JoinHostPort("127.0.95.55", etcdFreePort(t, "127.0.95.55"))
	inv := etcdInventory(f, "team.yaml", []string{dead}, "")
	file := t.TempDir() + "/mine.db"

	out, errOut, code, _ := omniAt(context.Background(), inv, "--registry", file, "service", "status", "primary-bastion", "network-agent")
	if code != ExitUsage || !strings.Contains(errOut, "--registry "+file) || !strings.Contains(errOut, "team.yaml:") || !strings.Contains(errOut, "registry.etcd") {
		t.Fatalf("--registry with an etcd inventory: exit %d\n%s%s", code, out, errOut)
	}
	t.Setenv("OMNI_REGISTRY", file)
	out, errOut, code, _ = omniAt(context.Background(), inv, "service", "status", "primary-bastion", "network-agent")
	if code != ExitUsage || !strings.Contains(errOut, "OMNI_REGISTRY="+file) || !strings.Contains(errOut, "team.yaml:") {
		t.Fatalf("OMNI_REGISTRY with an etcd inventory: exit %d\n%s%s", code, out, errOut)
	}
}
