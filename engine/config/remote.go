package config

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/omni-fleet/omni/engine/manager"
)

// The remote side runs on Linux hosts with GNU coreutils: stat -c,
// sha256sum, base64 (-w0, -d), head -c, mktemp, chmod/chown --reference,
// mv -T and sync FILE; and a POSIX sh. Every value put in a script is
// quoted with internal/shell; the scripts print records framed by a random
// marker, each field either a number or base64, so that no path or file
// content can be mistaken for one.

// InputRunner is a Runner that can feed a command's standard input
// (transport.Client.RunInput). Apply sends file contents that way when it
// can: they are then in no argv (no 128 KiB limit, not visible to ps).
type InputRunner interface {
	RunInput(ctx context.Context, cmd string, stdin []byte) (manager.Result, error)
}

// PathError is an operation on one file of a host that failed.
type PathError struct {
	Path string
	Op   string // "read", "mkdir", "write", "validate", "rename", ...
	Msg  string // printable, bounded; never secret content
	// NoSudo: the command did not run under sudo and the host said
	// permission denied.
	NoSudo bool
}

func (e *PathError) Error() string {
	s := showPath(e.Path) + ": " + e.Op + ": " + e.Msg
	if e.NoSudo {
		s += " (not run under sudo: set sudo: true on the service or host if the file needs root)"
	}
	return s
}

// showPath is p as an error shows it: quoted when it holds characters a
// terminal should not get.
func showPath(p string) string {
	if manager.Printable(p) == p && !strings.ContainsAny(p, " \"'") {
		return p
	}
	return strconv.Quote(p)
}

// maxMessage bounds a host's message carried by an error.
const maxMessage = 2000

// message is b made printable, trimmed and cut to maxMessage bytes (its
// end kept).
func message(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > maxMessage {
		s = "…" + strings.ToValidUTF8(s[len(s)-maxMessage:], "")
	}
	return manager.Printable(s)
}

// newMarker is a fresh random record marker.
func newMarker() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "omnicfg" + hex.EncodeToString(b[:]), nil
}

// record is one line a script printed: MARK INDEX KIND FIELDS...
type record struct {
	index  int // -1 for "-"
	kind   string
	fields []string
}

// records parses the marked lines of out; end reports whether the
// script's last record ("MARK end") came.
func records(out []byte, mark string) (recs []record, end bool) {
	for _, line := range strings.Split(string(out), "\n") {
		rest, ok := strings.CutPrefix(line, mark+" ")
		if !ok {
			continue
		}
		if rest == "end" {
			end = true
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 2 {
			continue
		}
		i := -1
		if f[0] != "-" {
			n, err := strconv.Atoi(f[0])
			if err != nil {
				continue
			}
			i = n
		}
		recs = append(recs, record{index: i, kind: f[1], fields: f[2:]})
	}
	return recs, end
}

// unb64 decodes a base64 field ("" for none).
func unb64(s string) []byte {
	b, _ := base64.StdEncoding.DecodeString(s)
	return b
}

// field returns fields[i], "" when absent.
func (r record) field(i int) string {
	if i < len(r.fields) {
		return r.fields[i]
	}
	return ""
}

// checkPath refuses paths the scripts do not handle: relative, unclean,
// the root.
func checkPath(p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("%s: not an absolute path", showPath(p))
	case path.Clean(p) != p || p == "/":
		return fmt.Errorf("%s: not a clean path to a file", showPath(p))
	case strings.ContainsRune(p, 0):
		return fmt.Errorf("%s: a path cannot hold a NUL byte", showPath(p))
	}
	return nil
}

// checkPaths checks every path and refuses duplicates.
func checkPaths(files []File) error {
	seen := make(map[string]bool, len(files))
	for _, f := range files {
		if err := checkPath(f.Path); err != nil {
			return err
		}
		if seen[f.Path] {
			return fmt.Errorf("%s: declared twice", showPath(f.Path))
		}
		seen[f.Path] = true
	}
	return nil
}

// Octal is m's permission and special bits in chmod's octal form.
func Octal(m fs.FileMode) string {
	v := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		v |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		v |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		v |= 0o1000
	}
	return fmt.Sprintf("%04o", v)
}

// ParseOctal is stat's %a (or Octal's form) as a FileMode.
func ParseOctal(s string) (fs.FileMode, error) {
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil {
		return 0, err
	}
	m := fs.FileMode(v & 0o777)
	if v&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if v&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if v&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m, nil
}

// runScript runs script (under sudo -n when sudo) and checks for a sudo
// refusal. input, when not nil, goes to the command's stdin (r must be an
// InputRunner).
func runScript(ctx context.Context, r manager.Runner, sudo bool, script string, input []byte) (manager.Result, error) {
	cmd := manager.ShellCommand(script, sudo)
	var res manager.Result
	var err error
	if input != nil {
		res, err = r.(InputRunner).RunInput(ctx, cmd, input)
	} else {
		res, err = r.Run(ctx, cmd)
	}
	if err != nil {
		return res, err
	}
	if !sudo {
		return res, nil // a sudo refusal can only be omni's own (see manager.checked)
	}
	if err := manager.CheckSudo(res.Stderr); err != nil {
		return res, err
	}
	return res, nil
}

// errTruncated is a script whose output ended before its last record.
var errTruncated = errors.New("the host's output ended early")
