package config

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/internal/shell"
)

// Action is what Apply did to one file.
type Action string

// The actions of Apply.
const (
	Written    Action = "written"     // new content, atomically replaced
	AttrsFixed Action = "attrs fixed" // same content; mode/owner/group set in place
	Unchanged  Action = "unchanged"   // not touched
)

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// DaemonReload: run `systemctl daemon-reload` when a written file asks
	// for it (File.DaemonReload), in the same command.
	DaemonReload bool
	// Timeout bounds the whole command, validators included; 0 leaves the
	// bound to ctx. When it ends the transport kills the remote process
	// group: nothing has replaced a target unless its rename ran.
	Timeout time.Duration
}

// FileResult is what Apply did to one file.
type FileResult struct {
	Path    string
	Action  Action
	OldHash string // "" when the file did not exist
	NewHash string
	// The host copy's attributes before the apply (when it existed), so
	// that a rollback can put them back: its mode (set-ID and sticky bits
	// included), and its owner and group by name (by numeric id when they
	// have none).
	OldMode            fs.FileMode
	OldOwner, OldGroup string
}

// ApplyResult is what Apply did, file by file in the order given.
type ApplyResult struct {
	Files          []FileResult
	DaemonReloaded bool
}

// Changed reports whether the apply changed anything on the host: a file
// written or its attributes fixed, or systemd reloaded. An Apply that
// failed may have, before it failed.
func (r ApplyResult) Changed() bool {
	for _, f := range r.Files {
		if f.Action == Written || f.Action == AttrsFixed {
			return true
		}
	}
	return r.DaemonReloaded
}

// MaxInlineCommand bounds the command Apply sends when the Runner cannot
// feed stdin (not an InputRunner): the contents then travel base64 in the
// script, one argv string, which Linux caps at 128 KiB.
const MaxInlineCommand = 100 << 10

// maxValidatorOutput bounds what a failing validator's output an error
// carries (its end).
const maxValidatorOutput = 4096

// Apply makes the host have files, given what it has (live, from ReadLive
// without content), in one command. A file whose content differs from its
// live copy (or that is missing) is written; one whose content is equal but
// whose declared mode, owner or group differ gets chmod/chown in place;
// any other is not touched at all. See docs/config.md for the steps on the
// host and their guarantees: each written file goes to a temporary file
// in its own directory, all are validated before any replaces its target
// (a failing validator changes nothing), and each replaces its target by a
// rename after an fsync. When nothing is to be done, Apply runs nothing.
// Errors name the path (*PathError); the caller prefixes the host.
func Apply(ctx context.Context, r manager.Runner, sudo bool, files []File, live []Live, opts ApplyOptions) (ApplyResult, error) {
	if err := checkPaths(files); err != nil {
		return ApplyResult{}, err
	}
	byPath := make(map[string]Live, len(live))
	for _, l := range live {
		byPath[l.Path] = l
	}
	var out ApplyResult
	var work []job
	for i, f := range files {
		l, ok := byPath[f.Path]
		if !ok {
			return ApplyResult{}, fmt.Errorf("%s: no live state given (ReadLive first)", showPath(f.Path))
		}
		fr := FileResult{Path: f.Path, Action: Unchanged, OldHash: l.Hash, NewHash: f.Hash()}
		if !l.Exists {
			fr.OldHash = ""
		} else {
			fr.OldMode, fr.OldOwner, fr.OldGroup = l.Mode, idName(l.Owner, l.UID), idName(l.Group, l.GID)
		}
		j := job{index: i, file: f, live: l}
		switch {
		case !l.Exists || l.Hash != fr.NewHash:
			j.write = true
			work = append(work, j)
		case j.drift():
			work = append(work, j)
		}
		out.Files = append(out.Files, fr)
	}
	if len(work) == 0 {
		return out, nil
	}
	mark, err := newMarker()
	if err != nil {
		return ApplyResult{}, err
	}
	_, viaStdin := r.(InputRunner)
	script, input := applyScript(mark, work, opts, viaStdin)
	if !viaStdin {
		if n := len(manager.ShellCommand(script, sudo)); n > MaxInlineCommand {
			return ApplyResult{}, fmt.Errorf("writing configuration files: the command would be %d bytes, more than the %d this connection can send without input", n, MaxInlineCommand)
		}
		input = nil
	}
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	res, err := runScript(ctx, r, sudo, script, input)
	if err != nil {
		// Interrupted, timed out or cut off: what the host reported before
		// that is done all the same (a rename that ran has replaced its
		// target), and the caller must record it.
		out = reported(out, res.Stdout, mark)
		if ctx.Err() == context.DeadlineExceeded && opts.Timeout > 0 {
			err = fmt.Errorf("timed out after %s (killed on the host; no file was replaced unless the host said so): %w", opts.Timeout, err)
		}
		return out, fmt.Errorf("writing configuration files: %w", err)
	}
	return applied(out, work, secretValues(files), res, mark, sudo)
}

// reported is out with what the host reported done in stdout: the files
// written or fixed, and the daemon-reload.
func reported(out ApplyResult, stdout []byte, mark string) ApplyResult {
	recs, _ := records(stdout, mark)
	for _, rec := range recs {
		switch {
		case rec.kind == "reload":
			out.DaemonReloaded = true
		case rec.index < 0 || rec.index >= len(out.Files):
		case rec.kind == "written":
			out.Files[rec.index].Action = Written
		case rec.kind == "attrs":
			out.Files[rec.index].Action = AttrsFixed
		}
	}
	return out
}

// idName is an owner or group by its name, or by its numeric id when it
// has none (stat's UNKNOWN).
func idName(name, id string) string {
	if name == "" || name == "UNKNOWN" {
		return id
	}
	return name
}

// job is one file Apply writes or fixes.
type job struct {
	index int
	file  File
	live  Live
	write bool
}

// drift reports whether the declared attributes differ from the live ones.
func (j job) drift() bool { return j.live.AttrsDiffer(j.file) }

// applied reads the records of the apply script into out.
func applied(out ApplyResult, work []job, secrets []string, res manager.Result, mark string, sudo bool) (ApplyResult, error) {
	out = reported(out, res.Stdout, mark)
	recs, end := records(res.Stdout, mark)
	var errs []error
	shown := func(b []byte) string { return message([]byte(redact(string(b), secrets))) }
	for _, rec := range recs {
		var f File
		if rec.index >= 0 && rec.index < len(out.Files) {
			f = findJob(work, rec.index).file
		}
		switch rec.kind {
		case "invalid":
			msg := "exit " + rec.field(0)
			switch {
			case f.HasSecret():
				msg += ": output withheld (the file is secret)"
			default:
				if o := shown(unb64(rec.field(1))); o != "" {
					msg += ": " + o
				}
			}
			errs = append(errs, &PathError{Path: f.Path, Op: "validate (" + manager.Printable(f.Validate) + ")", Msg: msg})
		case "fail":
			msg := shown(unb64(rec.field(1)))
			op := rec.field(0)
			if rec.index < 0 {
				errs = append(errs, fmt.Errorf("%s: %s", op, msg))
				continue
			}
			errs = append(errs, &PathError{Path: f.Path, Op: op, Msg: msg,
				NoSudo: !sudo && strings.Contains(msg, "ermission denied")})
		}
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("writing configuration files: %w", errors.Join(errs...))
	}
	if !end {
		msg := shown(res.Stderr)
		if msg == "" {
			msg = errTruncated.Error()
		}
		return out, fmt.Errorf("writing configuration files: exit %d: %s", res.ExitCode, msg)
	}
	return out, nil
}

func findJob(work []job, index int) job {
	for _, j := range work {
		if j.index == index {
			return j
		}
	}
	return job{}
}

// applyHeader is the part of the apply script that does not depend on the
// files. Records:
//
//	MARK I fail STEP BASE64(message)   (I is "-" for no file; the script stops)
//	MARK I invalid CODE BASE64(output) (the validator of file I failed)
//	MARK I written | MARK I attrs | MARK - reload | MARK end
const applyHeader = `export LC_ALL=C
umask 077
b() { printf '%s' "$1" | base64 -w0; }
fail() { clean; printf '%s %s fail %s %s\n' "$M" "$1" "$2" "$(b "$3")"; exit 0; }
`

// applyScript is the script that applies work, and its input: the
// contents, when they go on stdin (viaStdin), else inside the script.
func applyScript(mark string, work []job, opts ApplyOptions, viaStdin bool) (string, []byte) {
	var b strings.Builder
	var input []byte
	q := shell.Quote
	b.WriteString(applyHeader + "M=" + mark + "\nclean() { :")
	for _, j := range work {
		if j.write {
			fmt.Fprintf(&b, `; [ -z "${t%[1]d-}" ] || rm -f -- "$t%[1]d"; [ -z "${o%[1]d-}" ] || rm -f -- "$o%[1]d"`, j.index)
		}
	}
	b.WriteString("; }\n")
	// Stage: every written file goes to a temporary file beside it.
	for _, j := range work {
		if !j.write {
			continue
		}
		i, f := j.index, j.file
		fmt.Fprintf(&b, "p%d=%s; d%d=%s; n%d=%s\n", i, q(f.Path), i, q(path.Dir(f.Path)), i, q(path.Base(f.Path)))
		fmt.Fprintf(&b, `if [ ! -d "$d%[1]d" ]; then e=$( (umask 022; mkdir -p -- "$d%[1]d") 2>&1) || fail %[1]d mkdir "$e"; fi
rm -f -- "$d%[1]d/.$n%[1]d".omni-??????
e=$(mktemp -- "$d%[1]d/.$n%[1]d.omni-XXXXXX" 2>&1) || fail %[1]d mktemp "$e"; t%[1]d=$e
`, i)
		n := len(f.Content)
		if viaStdin {
			fmt.Fprintf(&b, `e=$( { head -c %[2]d > "$t%[1]d"; } 2>&1) || fail %[1]d write "$e"
`, i, n)
			input = append(input, f.Content...)
		} else {
			fmt.Fprintf(&b, "e=$( { base64 -d > \"$t%[1]d\"; } 2>&1 <<'OMNI_B64_%[2]s'\n", i, mark)
			enc := base64.StdEncoding.EncodeToString(f.Content)
			for len(enc) > 76 {
				b.WriteString(enc[:76] + "\n")
				enc = enc[76:]
			}
			if enc != "" {
				b.WriteString(enc + "\n")
			}
			fmt.Fprintf(&b, "OMNI_B64_%[2]s\n) || fail %[1]d write \"$e\"\n", i, mark)
		}
		fmt.Fprintf(&b, `[ "$(stat -c %%s -- "$t%[1]d")" = %[2]d ] || fail %[1]d write "short write: not %[2]d bytes"
`, i, n)
		// Attributes: the declared ones, else the existing file's, else
		// the defaults. chown first: it clears set-ID bits.
		var attrs []string
		if j.live.Exists && (f.Owner == "" || f.Group == "") {
			attrs = append(attrs, fmt.Sprintf(`chown --reference="$p%d" -- "$t%d"`, i, i))
		}
		if own := ownerSpec(f.Owner, f.Group); own != "" {
			attrs = append(attrs, fmt.Sprintf(`chown -- %s "$t%d"`, q(own), i))
		}
		switch {
		case f.Mode != 0:
			attrs = append(attrs, fmt.Sprintf(`chmod %s -- "$t%d"`, Octal(f.Mode), i))
		case j.live.Exists:
			attrs = append(attrs, fmt.Sprintf(`chmod --reference="$p%d" -- "$t%d"`, i, i))
		case f.Secret || len(f.SecretKeys) > 0:
			attrs = append(attrs, fmt.Sprintf(`chmod %s -- "$t%d"`, Octal(SecretMode), i))
		default:
			attrs = append(attrs, fmt.Sprintf(`chmod %s -- "$t%d"`, Octal(DefaultMode), i))
		}
		fmt.Fprintf(&b, "e=$( { %s; } 2>&1) || fail %d attributes \"$e\"\n", strings.Join(attrs, " && "), i)
	}
	// Validate every written file before any replaces its target.
	b.WriteString("bad=0\n")
	for _, j := range work {
		if !j.write || strings.TrimSpace(j.file.Validate) == "" {
			continue
		}
		i, f := j.index, j.file
		validator := strings.ReplaceAll(f.Validate, "%s", `"$1"`)
		fmt.Fprintf(&b, `e=$(mktemp -- "$d%[1]d/.$n%[1]d.omni-XXXXXX" 2>&1) || fail %[1]d mktemp "$e"; o%[1]d=$e
sh -c %[2]s sh "$t%[1]d" </dev/null >"$o%[1]d" 2>&1; r=$?
if [ $r -ne 0 ]; then bad=1; printf '%%s %[1]d invalid %%s %%s\n' "$M" "$r" "%[3]s"; fi
rm -f -- "$o%[1]d"; o%[1]d=
`, i, q(validator), validatorOutput(f, i))
	}
	b.WriteString(`if [ $bad -ne 0 ]; then clean; printf '%s end\n' "$M"; exit 0; fi` + "\n")
	// Commit: fsync the temporary files, rename each over its target,
	// fsync the directories.
	var temps, dirs []string
	for _, j := range work {
		if j.write {
			temps = append(temps, fmt.Sprintf(`"$t%d"`, j.index))
			dirs = append(dirs, fmt.Sprintf(`"$d%d"`, j.index))
		}
	}
	if len(temps) > 0 {
		fmt.Fprintf(&b, "e=$(sync -- %s 2>&1) || fail - sync \"$e\"\n", strings.Join(temps, " "))
	}
	reload := false
	for _, j := range work {
		if !j.write {
			continue
		}
		fmt.Fprintf(&b, `e=$(mv -fT -- "$t%[1]d" "$p%[1]d" 2>&1) || fail %[1]d rename "$e"; t%[1]d=; printf '%%s %[1]d written\n' "$M"
`, j.index)
		reload = reload || j.file.DaemonReload
	}
	if len(dirs) > 0 {
		fmt.Fprintf(&b, "e=$(sync -- %s 2>&1) || fail - sync-directory \"$e\"\n", strings.Join(dirs, " "))
	}
	// Attributes of files whose content is already right: in place.
	for _, j := range work {
		if j.write {
			continue
		}
		f, l, i := j.file, j.live, j.index
		var cmds []string
		owner, group := "", ""
		if !l.OwnedBy(f.Owner) {
			owner = f.Owner
		}
		if !l.InGroup(f.Group) {
			group = f.Group
		}
		if own := ownerSpec(owner, group); own != "" {
			cmds = append(cmds, fmt.Sprintf("chown -- %s %s", q(own), q(f.Path)))
		}
		if f.Mode != 0 && (f.Mode != l.Mode || len(cmds) > 0) {
			// (a chown may clear set-ID bits: set the mode after it)
			cmds = append(cmds, fmt.Sprintf("chmod %s -- %s", Octal(f.Mode), q(f.Path)))
		}
		fmt.Fprintf(&b, "e=$( { %s; } 2>&1) || fail %d attributes \"$e\"; printf '%%s %d attrs\\n' \"$M\"\n", strings.Join(cmds, " && "), i, i)
	}
	if reload && opts.DaemonReload {
		b.WriteString(`e=$(systemctl daemon-reload </dev/null 2>&1) || fail - daemon-reload "$e"; printf '%s - reload\n' "$M"` + "\n")
	}
	b.WriteString(`printf '%s end\n' "$M"` + "\n")
	return b.String(), input
}

// validatorOutput is the script's expression for the output a failing
// validator's record carries: none for a secret file.
func validatorOutput(f File, i int) string {
	if f.HasSecret() {
		return ""
	}
	return fmt.Sprintf(`$(tail -c %d -- "$o%d" | base64 -w0)`, maxValidatorOutput, i)
}

// ownerSpec is chown's OWNER[:GROUP] or :GROUP; "" when neither is set.
func ownerSpec(owner, group string) string {
	switch {
	case owner != "" && group != "":
		return owner + ":" + group
	case group != "":
		return ":" + group
	default:
		return owner
	}
}
