// Package haproxy speaks HAProxy's runtime API (the admin socket's line
// protocol, one command per connection): it sets a server's state and reads
// its current sessions. The connection is whatever Dial opens: omni opens
// it through the SSH connection of the host HAProxy runs on, to the socket's
// path there (a direct-streamlocal channel), so nothing is needed on that
// host besides HAProxy and sshd.
package haproxy

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
)

// Dial opens a connection to the admin socket.
type Dial func(ctx context.Context) (net.Conn, error)

// Client sends commands to one HAProxy's admin socket.
type Client struct {
	Dial Dial
	// Where names the socket in errors ("lb1:/run/haproxy/admin.sock").
	Where string
}

// nameRE is what HAProxy accepts in a proxy or server name: nothing the
// line protocol gives a meaning to (spaces, ';', '/', newlines). At most
// 64 of them, checked apart (see validName).
var nameRE = regexp.MustCompile(`^[A-Za-z0-9._:-]+$`)

// validName: a name nameRE accepts, of at most 64 characters. A counted
// repetition ({1,64}) in the expression would be compiled into 64 copies
// at every start of omni.
func validName(n string) bool { return len(n) <= 64 && nameRE.MatchString(n) }

// States a server can be set to (set server B/S state X).
const (
	Ready = "ready"
	Drain = "drain"
	Maint = "maint"
)

// Command sends one command and returns HAProxy's answer. A command with a
// newline or ';' (which would make it two) is refused unsent.
func (c Client) Command(ctx context.Context, cmd string) (string, error) {
	if strings.ContainsAny(cmd, "\n\r;") {
		return "", fmt.Errorf("haproxy %s: refusing command %q: it holds a newline or ';'", c.Where, cmd)
	}
	conn, err := c.Dial(ctx)
	if err != nil {
		return "", fmt.Errorf("haproxy %s: %w", c.Where, err)
	}
	// An SSH channel has no deadlines: the context's end closes it.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	if _, err := io.WriteString(conn, cmd+"\n"); err != nil {
		return "", c.failed(ctx, cmd, err)
	}
	// Not interactive: HAProxy answers and closes the connection.
	out, err := io.ReadAll(io.LimitReader(conn, 16<<20))
	if err != nil && ctx.Err() == nil && !errors.Is(err, io.EOF) {
		return "", c.failed(ctx, cmd, err)
	}
	if ctx.Err() != nil {
		return "", c.failed(ctx, cmd, ctx.Err())
	}
	return string(out), nil
}

func (c Client) failed(ctx context.Context, cmd string, err error) error {
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	return fmt.Errorf("haproxy %s: %s: %w", c.Where, cmd, err)
}

// SetState sets a server's administrative state: Ready, Drain or Maint.
func (c Client) SetState(ctx context.Context, backend, server, state string) error {
	if err := checkNames(backend, server); err != nil {
		return err
	}
	cmd := fmt.Sprintf("set server %s/%s state %s", backend, server, state)
	out, err := c.Command(ctx, cmd)
	if err != nil {
		return err
	}
	// Success is an empty answer; anything else is HAProxy saying why not.
	if msg := strings.TrimSpace(out); msg != "" {
		return &RefusedError{Where: c.Where, Command: cmd, Answer: oneLine(msg)}
	}
	return nil
}

// RefusedError is HAProxy's answer to a command it did not carry out ("No
// such backend."): nothing changed.
type RefusedError struct {
	Where, Command, Answer string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("haproxy %s: %s: %s", e.Where, e.Command, e.Answer)
}

// Admin is a server's administrative state: the srv_admin_state flags of
// `show servers state` (0: ready).
type Admin int

// The flags of Admin (HAProxy's SRV_ADMF_*).
const (
	AdminForcedMaint    Admin = 0x01 // set server … state maint, disable server
	AdminInheritedMaint Admin = 0x02 // from a tracked server
	AdminConfigMaint    Admin = 0x04 // `disabled` in the configuration
	AdminForcedDrain    Admin = 0x08 // set server … state drain
	AdminInheritedDrain Admin = 0x10 // from a tracked server
	AdminResolveMaint   Admin = 0x20 // its address could not be resolved
	AdminHostnameMaint  Admin = 0x40 // set server … fqdn
)

// Ready: no flag is set, the server takes traffic as its checks allow.
func (a Admin) Ready() bool { return a == 0 }

// Maint: the server is in maintenance, for any reason.
func (a Admin) Maint() bool {
	return a&(AdminForcedMaint|AdminInheritedMaint|AdminConfigMaint|AdminResolveMaint|AdminHostnameMaint) != 0
}

// Draining: the server takes no new connections (set to drain, or
// inheriting it), and is not in maintenance.
func (a Admin) Draining() bool {
	return !a.Maint() && a&(AdminForcedDrain|AdminInheritedDrain) != 0
}

// AdminState reads a server's administrative state from `show servers
// state BACKEND`.
func (c Client) AdminState(ctx context.Context, backend, server string) (Admin, error) {
	if err := checkNames(backend, server); err != nil {
		return 0, err
	}
	cmd := "show servers state " + backend
	out, err := c.Command(ctx, cmd)
	if err != nil {
		return 0, err
	}
	a, err := parseServersState(out, backend, server)
	if err != nil {
		return 0, &RefusedError{Where: c.Where, Command: cmd, Answer: err.Error()}
	}
	return a, nil
}

// parseServersState finds backend/server in `show servers state`: a
// version line, then "# be_id be_name srv_id srv_name …" naming the
// space-separated columns.
func parseServersState(out, backend, server string) (Admin, error) {
	var cols []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && f[0] == "#" {
			cols = f[1:]
			continue
		}
		if cols == nil || len(f) < len(cols) {
			continue
		}
		row := map[string]string{}
		for i, c := range cols {
			row[c] = f[i]
		}
		if row["be_name"] != backend || row["srv_name"] != server {
			continue
		}
		n, err := strconv.Atoi(row["srv_admin_state"])
		if err != nil {
			return 0, fmt.Errorf("srv_admin_state of %s/%s: %q", backend, server, row["srv_admin_state"])
		}
		return Admin(n), nil
	}
	if cols == nil {
		return 0, fmt.Errorf("%s", oneLine(out))
	}
	return 0, fmt.Errorf("no server %s/%s", backend, server)
}

// Server is one server's line of `show stat`.
type Server struct {
	Status   string // UP, DOWN, DRAIN, MAINT, no check, …
	Sessions int    // current sessions (scur)
}

// Stat reads a server's status and current sessions from `show stat`.
func (c Client) Stat(ctx context.Context, backend, server string) (Server, error) {
	if err := checkNames(backend, server); err != nil {
		return Server{}, err
	}
	out, err := c.Command(ctx, "show stat")
	if err != nil {
		return Server{}, err
	}
	s, err := parseStat(out, backend, server)
	if err != nil {
		return Server{}, fmt.Errorf("haproxy %s: show stat: %w", c.Where, err)
	}
	return s, nil
}

// parseStat finds backend/server in `show stat`'s CSV, whose first line
// is "# pxname,svname,…" naming the columns.
func parseStat(out, backend, server string) (Server, error) {
	if !strings.HasPrefix(out, "# ") {
		return Server{}, fmt.Errorf("not the stats CSV: %s", oneLine(out))
	}
	rows, err := csv.NewReader(strings.NewReader(out[2:])).ReadAll()
	if err != nil {
		return Server{}, err
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	for _, k := range []string{"pxname", "svname", "scur", "status"} {
		if _, ok := col[k]; !ok {
			return Server{}, fmt.Errorf("no column %q", k)
		}
	}
	for _, r := range rows[1:] {
		if len(r) != len(rows[0]) || r[col["pxname"]] != backend || r[col["svname"]] != server {
			continue
		}
		n, err := strconv.Atoi(r[col["scur"]])
		if err != nil {
			return Server{}, fmt.Errorf("scur of %s/%s: %q", backend, server, r[col["scur"]])
		}
		return Server{Status: r[col["status"]], Sessions: n}, nil
	}
	return Server{}, fmt.Errorf("no server %s/%s", backend, server)
}

func checkNames(backend, server string) error {
	for _, n := range []string{backend, server} {
		if !validName(n) {
			return fmt.Errorf("haproxy: %q is not an HAProxy name (letters, digits, '.', '_', ':', '-')", n)
		}
	}
	return nil
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return s
}
