package cli

import (
	"strings"
	"testing"
)

// TestSystemdUnitDeclaredByItsAlias (found by review): the inventory names a unit
// by an alias, as operators do (mysql.service for mariadb.service,
// redis.service for redis-server.service, sshd.service for ssh.service on
// Debian): here mariadb.service has `Alias=mysql.service` and is enabled,
// so /etc/systemd/system/mysql.service links to it. systemctl follows
// the alias (start, stop and status are right), but journalctl -u does
// not: the journal records the unit under its real name
// (_SYSTEMD_UNIT=mariadb.service).
//
//   - `omni service logs` prints "-- No entries --" and exits 0, though the
//     unit has written lines: the operator is told the service logged
//     nothing.
//   - a failed restart (its ExecStartPre refuses a broken configuration
//     with "fatal: …") carries no log tail and no reason: the unit's own
//     words, which omni promises in place of systemctl's "see journalctl
//     -xeu", are missing; only "Job for mariadb.service failed" is shown.
//
// An operator expects the unit's journal whichever of its names the
// inventory uses (omni can read the unit's Id with systemctl show, as its
// status already does, and pass that to journalctl).
func TestSystemdUnitDeclaredByItsAlias(t *testing.T) {
	const a = "127.0.84.31"
	const fatal = "fatal: /etc/mysql/my.cnf:12: unknown variable bogus=1"
	h, f := bootSystemdHost(t, "omni-rv-alias-sd", a, map[string]string{
		"mariadb.service": "[Unit]\nDescription=database\n\n[Service]\n" +
			"ExecStartPre=/bin/sh -c 'if [ -e /etc/mariadb.bad ]; then echo \"" + fatal + "\" >&2; exit 1; fi'\n" +
			"ExecStart=/bin/sh -c 'echo mariadb ready for connections; exec sleep 1000'\n\n[Install]\nAlias=mysql.service\n",
	}, nil,
		"  sd1: {address: "+a+", port: 22, user: root, sudo: false, roles: [worker], service_address: "+a+"}\n",
		"  mysql: {}\n")
	h.Run(t, "systemctl enable mariadb.service")
	if id := show(t, h, "mysql.service", "Id")["Id"]; id != "mariadb.service" {
		t.Fatalf("mysql.service is not an alias of mariadb.service: Id=%s", id)
	}

	if out, errOut, code := f.omni(t, "service", "start", "sd1", "mysql"); code != 0 {
		t.Fatalf("start: exit %d\n%s%s", code, out, errOut)
	}
	if out := h.Run(t, "journalctl -u mariadb.service --no-pager -q"); !strings.Contains(out, "ready for connections") {
		t.Fatalf("the unit's line is not in its journal:\n%s", out)
	}

	t.Run("logs", func(t *testing.T) {
		out, errOut, code := f.omni(t, "service", "logs", "sd1", "mysql", "-n", "20")
		if code != 0 || !strings.Contains(out, "mariadb ready for connections") {
			t.Errorf("logs of a unit declared by its alias: exit %d, want the unit's line \"mariadb ready for connections\"\n--- stdout\n%s--- stderr\n%s", code, out, errOut)
		}
	})

	t.Run("failed restart says why", func(t *testing.T) {
		h.Run(t, "touch /etc/mariadb.bad")
		out, errOut, code := f.omni(t, "-o", "json", "service", "restart", "sd1", "mysql")
		doc := failedDoc(t, out, errOut, code)
		if doc.Reason != fatal || !containsLine(doc.step.LogTail, fatal) {
			t.Errorf("failed restart of a unit declared by its alias: reason %q, tail %q, want the unit's own line %q\n%s%s", doc.Reason, doc.step.LogTail, fatal, out, errOut)
		}
	})
}
