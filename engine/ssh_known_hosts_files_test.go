package engine

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
	"golang.org/x/crypto/ssh"
)

// TestRevokedKeyInSecondUserKnownHostsFileIsRefused: an operator's
// ~/.ssh/config names two known_hosts files, `UserKnownHostsFile
// ~/.ssh/known_hosts /etc/team/known_hosts`, the second one the team's,
// where a compromised host key has been marked `@revoked`. omni connects
// to the host with the revoked key anyway, silently.
//
// What omni does: sshconfig.Lookup keeps only the first file of
// UserKnownHostsFile (engine/sshconfig/config.go, `h.KnownHostsFile =
// first[0]`), so the revocation in the second file is never read.
//
// What it should do (what OpenSSH does): read every file listed;
// a key marked @revoked in any of them is refused ("REVOKED HOST KEY
// DETECTED"). omni must refuse it, or at the very least refuse to run with
// a UserKnownHostsFile it does not fully read, rather than ignore a
// revocation.
func TestRevokedKeyInSecondUserKnownHostsFileIsRefused(t *testing.T) {
	reviewHome(t)
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.82.2"})
	dir := t.TempDir()
	personal := reviewWrite(t, filepath.Join(dir, "known_hosts"), srv.HostKeyLine()+"\n")
	team := reviewWrite(t, filepath.Join(dir, "team_known_hosts"),
		"# compromised: do not trust\n@revoked * "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(srv.HostKeys()[0])))+"\n")
	config := twoKnownHostsConfig(t, dir, "revhost", srv, personal, team)
	if out, err := reviewOpenSSH(t, config, "revhost"); err == nil || !strings.Contains(out, "REVOKED") {
		t.Fatalf("OpenSSH does not refuse the revoked key (err %v):\n%s", err, out)
	}

	err := reviewOmniConnect(t, config, `version: 1
hosts:
  web1: {address: revhost, roles: [web]}
roles: {web: []}
`, "web1")
	var hk *transport.HostKeyError
	if !errors.As(err, &hk) || !hk.Revoked {
		t.Fatalf("omni connected to a host whose key is @revoked in %s (the second UserKnownHostsFile): err = %v", team, err)
	}
}

// TestHostKnownOnlyInSecondUserKnownHostsFile: with
// `UserKnownHostsFile ~/.ssh/known_hosts /etc/team/known_hosts` (the
// usual way to share a team's host keys), a host whose key is in the
// team's file, the second, cannot be reached: omni says its key "is not
// known", although the operator's ssh connects and the file the operator
// configured lists it.
//
// Root cause: engine/sshconfig/config.go keeps only the first
// UserKnownHostsFile. OpenSSH reads them all. (Failing closed, but a
// working setup of ssh breaks, and the hint "pass
// --accept-new-host-keys" leads the operator to trust-on-first-use a key
// the team had pinned.)
func TestHostKnownOnlyInSecondUserKnownHostsFile(t *testing.T) {
	reviewHome(t)
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.82.3"})
	dir := t.TempDir()
	personal := reviewWrite(t, filepath.Join(dir, "known_hosts"), "")
	team := reviewWrite(t, filepath.Join(dir, "team_known_hosts"), srv.HostKeyLine()+"\n")
	config := twoKnownHostsConfig(t, dir, "teamhost", srv, personal, team)
	if out, err := reviewOpenSSH(t, config, "teamhost"); err != nil {
		t.Fatalf("OpenSSH refuses the setup too (%v):\n%s", err, out)
	}
	if err := reviewOmniConnect(t, config, `version: 1
hosts:
  web1: {address: teamhost, roles: [web]}
roles: {web: []}
`, "web1"); err != nil {
		t.Fatalf("omni cannot connect to a host listed in the second UserKnownHostsFile: %v", err)
	}
}

// twoKnownHostsConfig writes an ssh_config in dir for alias, reaching srv
// with its own key, with two UserKnownHostsFile files (personal, then
// team's) and no global one.
func twoKnownHostsConfig(t *testing.T, dir, alias string, srv *sshtest.Server, personal, team string) string {
	t.Helper()
	return reviewWrite(t, filepath.Join(dir, "ssh_config"), `Host `+alias+`
    HostName `+srv.Addr+`
    Port `+reviewItoa(srv.Port)+`
    User `+srv.User+`
    IdentityFile `+srv.IdentityFile+`
    IdentitiesOnly yes
    UserKnownHostsFile `+personal+` `+team+`
    GlobalKnownHostsFile /dev/null
    StrictHostKeyChecking yes
`)
}
