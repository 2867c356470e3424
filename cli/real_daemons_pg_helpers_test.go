package cli

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The review_real tests run real daemons (PostgreSQL 15, memcached, ...)
// under the command manager, over a real sshd on loopback (127.0.53.x),
// logged in to as a deploy user of their own (reviewHostUser): postgres
// refuses to run as root, and the user's processes are all the test's,
// killed by PID when it ends.

const reviewPgBin = "/usr/lib/postgresql/15/bin"

// reviewRealHost is one host (web1) of an inventory logged in to as a
// deploy user made for the test, whose home holds the daemons' files.
type reviewRealHost struct {
	t    *testing.T
	User string
	Home string
	Addr string
	Inv  string
}

// reviewRealUser makes the deploy user (name at most 8 letters or so).
func reviewRealUser(t *testing.T, name string) (user, home string) {
	t.Helper()
	user = reviewHostUser(t, name, "/bin/sh", nil)
	home = "/home/" + user
	os.Chmod(home, 0o755)
	return user, home
}

// reviewRealInventory writes an inventory of one host, web1, at addr
// (its own sshd), logged in to as user, running services (YAML under
// services:, indented 2) of role web (roles, comma-separated).
func reviewRealInventory(t *testing.T, addr, user, defaults, roles, services string) *reviewRealHost {
	t.Helper()
	inv, _, _ := reviewHost(t, addr, "", user, defaults, roles, services)
	b, err := os.ReadFile(inv)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(b), "    roles: [web]\n", "    roles: [web]\n    service_address: "+addr+"\n", 1)
	if err := os.WriteFile(inv, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return &reviewRealHost{t: t, User: user, Home: "/home/" + user, Addr: addr, Inv: inv}
}

// run runs omni on the host's inventory, logged, with a backstop.
func (h *reviewRealHost) run(args ...string) (stdout, stderr string, code int) {
	h.t.Helper()
	began := time.Now()
	stdout, stderr, code, _ = omniInv(h.t, 90*time.Second, h.Inv, args...)
	h.t.Logf("omni %s: exit %d after %s\n--- stdout\n%s--- stderr\n%s", strings.Join(args, " "), code, time.Since(began).Round(time.Millisecond), stdout, stderr)
	return stdout, stderr, code
}

// asUser runs a command as user, returning its combined output.
func reviewAsUser(t *testing.T, user string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("runuser", append([]string{"-u", user, "--"}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// reviewFreePort is a port free on addr.
func reviewFreePort(t *testing.T, addr string) int {
	t.Helper()
	l, err := net.Listen("tcp", addr+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// reviewPg is a PostgreSQL cluster in the user's home: DATA (the data
// directory), LOG (pg_ctl's -l), listening on addr:port and in SOCK.
type reviewPg struct {
	Data, Log, Sock string
	Addr            string
	Port            int
	User            string
}

// reviewInitPg runs initdb as user and configures the cluster to listen
// on addr:port only.
func reviewInitPg(t *testing.T, user, home, addr string, port int) *reviewPg {
	t.Helper()
	if _, err := os.Stat(reviewPgBin + "/initdb"); err != nil {
		t.Fatalf("PostgreSQL 15 is not installed (%s)", reviewPgBin)
	}
	pg := &reviewPg{Data: filepath.Join(home, "pgdata"), Log: filepath.Join(home, "pg.log"), Sock: filepath.Join(home, "sock"), Addr: addr, Port: port, User: user}
	if out, err := reviewAsUser(t, user, "mkdir", "-p", pg.Sock); err != nil {
		t.Fatalf("mkdir: %v\n%s", err, out)
	}
	if out, err := reviewAsUser(t, user, reviewPgBin+"/initdb", "-D", pg.Data, "-A", "trust", "-U", "postgres", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	conf := fmt.Sprintf("\nlisten_addresses = '%s'\nport = %d\nunix_socket_directories = '%s'\nfsync = off\nshared_buffers = 16MB\nmax_connections = 20\n", addr, port, pg.Sock)
	f, err := os.OpenFile(filepath.Join(pg.Data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(conf)
	f.Close()
	return pg
}

// PID is the postmaster's PID from postmaster.pid (0 when none).
func (pg *reviewPg) PID() int { return pidOf(filepath.Join(pg.Data, "postmaster.pid")) }

// userProcs lists the user's processes as "PID COMMAND" lines.
func reviewUserProcs(user string) []string {
	out, _ := exec.Command("ps", "-u", user, "-o", "pid=,pgid=,args=").Output()
	var ps []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.TrimSpace(l) != "" {
			ps = append(ps, strings.TrimSpace(l))
		}
	}
	return ps
}

// reviewLive lists the user's live (not zombie) processes whose command
// line holds what, as "PID STAT ARGS".
func reviewLive(user, what string) []string {
	out, _ := exec.Command("ps", "-u", user, "-o", "pid=,stat=,args=").Output()
	var ps []string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) < 3 || strings.HasPrefix(f[1], "Z") || !strings.Contains(l, what) {
			continue
		}
		ps = append(ps, strings.TrimSpace(l))
	}
	return ps
}

// reviewGone waits up to d for pid to have left /proc (a zombie reaped:
// the init of the test machine reaps late).
func reviewGone(pid int, d time.Duration) bool {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// reviewPgSvc is the postgres service as the docs have an operator write
// it: pg_ctl start with its log, status by postmaster.pid's first line
// (the postmaster's PID), logs by tail; stop is "" (SIGTERM by omni) or
// the stop command. more: more keys, indented 4.
func reviewPgSvc(pg *reviewPg, grace, stop, more string) string {
	ctl := reviewPgBin + "/pg_ctl -D " + pg.Data
	s := fmt.Sprintf("  postgres:\n    stop_grace: %s\n    start_timeout: 30s\n    commands:\n      start: '%s -l %s start'\n", grace, ctl, pg.Log)
	if stop != "" {
		s += "      stop: '" + stop + "'\n"
	}
	s += fmt.Sprintf("      status: 'head -1 %s/postmaster.pid'\n      logs: 'tail -n \"$OMNI_LINES\" %s'\n    health:\n      process: true\n      port: %d\n      timeout: 1s\n      retries: 20\n      interval: 100ms\n%s", pg.Data, pg.Log, pg.Port, more)
	return s
}

// reviewPgSession opens a psql session as the cluster's user, sends it
// sql and keeps it open until the test ends.
func reviewPgSession(t *testing.T, pg *reviewPg, sql string) {
	t.Helper()
	cmd := exec.Command("runuser", "-u", pg.User, "--", reviewPgBin+"/psql", "-X", "-h", pg.Addr, "-p", strconv.Itoa(pg.Port), "-U", "postgres", "-d", "postgres")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	in.Write([]byte(sql + "\n"))
}

// reviewRemoveShm removes the System V shared memory segments user owns
// (postgres leaves its segment behind when it is killed), once the
// test's other clean-ups (the user's processes, the user) are done:
// call it right after reviewRealUser.
func reviewRemoveShm(t *testing.T, name string) {
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	owners := map[string]bool{name: true, u.Uid: true}
	t.Cleanup(func() {
		out, _ := exec.Command("ipcs", "-m").Output()
		for _, l := range strings.Split(string(out), "\n") {
			f := strings.Fields(l)
			if len(f) >= 3 && owners[f[2]] {
				exec.Command("ipcrm", "-m", f[1]).Run()
			}
		}
	})
}
