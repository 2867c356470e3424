package config

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/internal/shell"
)

// MaxReadContent bounds the content ReadLive transfers for one file.
const MaxReadContent = 1 << 20

// readFunctions is the part of the read script that does not depend on
// the files. one INDEX PATH CONTENT prints the records of one file:
//
//	MARK I missing
//	MARK I err BASE64(message)
//	MARK I big SIZE
//	MARK I ok MODE SIZE UID GID MTIME(3 fields, stat's %y) BASE64(OWNER) BASE64(GROUP)
//	MARK I hash HEX            (without content)
//	MARK I data BASE64         (with content)
//
// The owner's and group's names come from stat on lines of their own
// (a name may hold spaces, as Active Directory's "domain users" does: any
// byte but a newline) and travel in base64, so that the record's fields
// split on blanks whatever they hold.
const readFunctions = `b() { printf '%s' "$1" | base64 -w0; }
NL='
'
one() {
	if ! s=$(stat -L -c '%a %s %u %g %y
%U
%G' -- "$2" 2>&1); then
		case $s in
		*'No such file or directory') printf '%s %s missing\n' "$M" "$1" ;;
		*) printf '%s %s err %s\n' "$M" "$1" "$(b "$s")" ;;
		esac
		return
	fi
	if [ ! -f "$2" ]; then
		printf '%s %s err %s\n' "$M" "$1" "$(b "not a regular file")"
		return
	fi
	n=${s%%"$NL"*}; u=${s#*"$NL"}; g=${u#*"$NL"}; u=${u%%"$NL"*}
	s="$n $(b "$u") $(b "$g")"
	if [ "$3" = 1 ]; then
		z=${n#* }; z=${z%% *}
		if [ "$z" -gt "$X" ]; then
			printf '%s %s big %s\n' "$M" "$1" "$z"
			return
		fi
		if ! d=$( { base64 -w0 < "$2"; } 2>&1); then
			printf '%s %s err %s\n' "$M" "$1" "$(b "$d")"
			return
		fi
		printf '%s %s ok %s\n%s %s data %s\n' "$M" "$1" "$s" "$M" "$1" "$d"
		return
	fi
	if ! h=$( { sha256sum < "$2"; } 2>&1); then
		printf '%s %s err %s\n' "$M" "$1" "$(b "$h")"
		return
	fi
	printf '%s %s ok %s\n%s %s hash %s\n' "$M" "$1" "$s" "$M" "$1" "${h%% *}"
}
`

// readScript is the script that reads files: one call of one per file.
func readScript(mark string, files []File, withContent bool) string {
	var b strings.Builder
	b.WriteString("export LC_ALL=C\nM=" + mark + "\nX=" + strconv.Itoa(MaxReadContent) + "\n")
	b.WriteString(readFunctions)
	for i, f := range files {
		content := "0"
		if withContent && !f.HasSecret() && !f.SecretOnHost() {
			content = "1"
		}
		fmt.Fprintf(&b, "one %d %s %s\n", i, shell.Quote(f.Path), content)
	}
	b.WriteString("printf '%s end\\n' \"$M\"\n")
	return b.String()
}

// readBatch is how many files one read with content takes at most: 16
// files of MaxReadContent, in base64, are under 24 MiB.
const readBatch = 16

// ReadLive reads what the host behind r has at each file's path, in one
// command (with content, one per readBatch files): whether it exists, its
// permission bits, owner and group names, size, modification time (to the
// nanosecond) and content hash
// (HashBytes form); with withContent, also the content of each file that
// holds no secret (File.HasSecret), up to MaxReadContent bytes. A missing
// file is Live.Exists false; anything else that cannot be read (a
// permission, a directory in the way, too large a file) is an error
// naming the path (*PathError), which the caller prefixes with the host.
// A symbolic link is followed: Live describes its target.
func ReadLive(ctx context.Context, r manager.Runner, sudo bool, files []File, withContent bool) ([]Live, error) {
	if len(files) == 0 {
		return nil, nil
	}
	if err := checkPaths(files); err != nil {
		return nil, err
	}
	// With their content, in batches whose output stays within what the
	// transport keeps of one command (transport.MaxOutput, 32 MiB): each
	// file's content is at most MaxReadContent, base64 (4/3) in the output.
	if n := readBatch; withContent && len(files) > n {
		var live []Live
		for len(files) > 0 {
			k := min(n, len(files))
			part, err := ReadLive(ctx, r, sudo, files[:k], withContent)
			if err != nil {
				return nil, err
			}
			live, files = append(live, part...), files[k:]
		}
		return live, nil
	}
	mark, err := newMarker()
	if err != nil {
		return nil, err
	}
	res, err := runScript(ctx, r, sudo, readScript(mark, files, withContent), nil)
	if err != nil {
		return nil, fmt.Errorf("reading configuration files: %w", err)
	}
	recs, end := records(res.Stdout, mark)
	if !end {
		return nil, readFailed(res)
	}
	live := make([]Live, len(files))
	seen := make([]bool, len(files))
	for i, f := range files {
		live[i].Path = f.Path
	}
	for _, rec := range recs {
		i := rec.index
		if i < 0 || i >= len(files) {
			continue
		}
		l, f := &live[i], files[i]
		switch rec.kind {
		case "missing":
			seen[i] = true
		case "err":
			msg := message(unb64(rec.field(0)))
			return nil, &PathError{Path: f.Path, Op: "read", Msg: msg,
				NoSudo: !sudo && strings.Contains(msg, "Permission denied")}
		case "big":
			return nil, &PathError{Path: f.Path, Op: "read",
				Msg: fmt.Sprintf("%s bytes, more than the %d omni reads", rec.field(0), MaxReadContent)}
		case "ok":
			if err := parseStat(l, rec.fields); err != nil {
				return nil, &PathError{Path: f.Path, Op: "read", Msg: "unexpected stat output: " + err.Error()}
			}
			seen[i] = true
		case "hash":
			l.Hash = "sha256:" + rec.field(0)
		case "data":
			l.Content = unb64(rec.field(0))
			if l.Content == nil {
				l.Content = []byte{}
			}
			l.Hash = HashBytes(l.Content)
			l.Size = int64(len(l.Content))
		}
	}
	for i := range files {
		if !seen[i] || (live[i].Exists && live[i].Hash == "") {
			return nil, readFailed(res)
		}
	}
	return live, nil
}

// readFailed is the error of a read script whose records are incomplete.
func readFailed(res manager.Result) error {
	msg := message(res.Stderr)
	if msg == "" {
		msg = errTruncated.Error()
	}
	return fmt.Errorf("reading configuration files: exit %d: %s", res.ExitCode, msg)
}

// statTime is the layout of stat's %y.
const statTime = "2006-01-02 15:04:05.999999999 -0700"

// parseStat fills l from the fields of an ok record: MODE SIZE UID GID
// DATE TIME ZONE BASE64(OWNER) BASE64(GROUP), strictly: nine fields, the
// ids decimal, the names valid base64 of names without a newline.
func parseStat(l *Live, f []string) error {
	if len(f) != 9 {
		return fmt.Errorf("%d fields", len(f))
	}
	for _, id := range f[2:4] {
		if _, err := strconv.ParseUint(id, 10, 32); err != nil {
			return fmt.Errorf("id %q: %w", id, err)
		}
	}
	var names [2]string
	for i, enc := range f[7:9] {
		b, err := base64.StdEncoding.Strict().DecodeString(enc)
		if err != nil || len(b) == 0 || strings.ContainsRune(string(b), '\n') {
			return fmt.Errorf("owner or group name %q: not base64 of a name", enc)
		}
		names[i] = string(b)
	}
	mode, err := ParseOctal(f[0])
	if err != nil {
		return err
	}
	size, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return err
	}
	mtime, err := time.Parse(statTime, strings.Join(f[4:7], " "))
	if err != nil {
		return err
	}
	l.Exists, l.Mode, l.Size, l.Owner, l.Group, l.UID, l.GID, l.MTime = true, mode, size, names[0], names[1], f[2], f[3], mtime
	return nil
}
