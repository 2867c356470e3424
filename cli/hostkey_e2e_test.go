package cli

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// TestAcceptNewHostKeysSaysWhichKeys: --accept-new-host-keys prints each
// key it adds on stderr (host, address, key type, SHA256 fingerprint, file),
// once: a second run finds them known and prints nothing.
func TestAcceptNewHostKeysSaysWhichKeys(t *testing.T) {
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.1.171", WorkerAddr: "127.0.1.172"})
	if err := os.WriteFile(f.KnownHosts, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := omni(t, f, "--accept-new-host-keys", "service", "status", "worker1", "network-agent")
	if code == ExitUnreachable {
		t.Fatalf("exit 4:\n%s", errOut)
	}
	for name, srv := range map[string]interface {
		HostPort() string
		HostKeys() []ssh.PublicKey
	}{"primary-bastion": f.Bastion, "worker1": f.Worker} {
		key := srv.HostKeys()[0]
		want := "omni: " + name + " (" + srv.HostPort() + "): trusted a new host key, " + key.Type() + " " +
			ssh.FingerprintSHA256(key) + ", added to " + f.KnownHosts + "\n"
		if strings.Count(errOut, want) != 1 {
			t.Errorf("stderr should say once:\n%s\ngot:\n%s", want, errOut)
		}
	}
	_, errOut, _ = omni(t, f, "--accept-new-host-keys", "service", "status", "worker1", "network-agent")
	if strings.Contains(errOut, "trusted a new host key") {
		t.Errorf("keys already known were reported again:\n%s", errOut)
	}
}
