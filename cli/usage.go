package cli

import (
	"fmt"
	"strings"
	"text/template"

	"github.com/alecthomas/kingpin/v2"
)

// negatable are the bool flags whose --no- form means something: --rolling
// is on by default for a critical service's restart, and --no-rolling turns
// it off. kingpin accepts --no-X for every bool flag, but help shows the
// [no-] form only for these: "--[no-]no-deps" or "--[no-]yes" say nothing
// a user would type.
var negatable = map[string]bool{"rolling": true}

// usageFuncs replace kingpin's flag column in help with one that writes
// --[no-]X only for the negatable flags.
func usageFuncs() template.FuncMap {
	return template.FuncMap{
		"FlagsToTwoColumns": func(flags []*kingpin.FlagModel) [][2]string {
			haveShort := false
			for _, f := range flags {
				haveShort = haveShort || f.Short != 0
			}
			var rows [][2]string
			for _, f := range flags {
				if !f.Hidden {
					rows = append(rows, [2]string{flagUsage(haveShort, f), f.HelpWithEnvar()})
				}
			}
			return rows
		},
	}
}

// flagUsage is kingpin's formatFlag, but for the [no-] prefix.
func flagUsage(haveShort bool, f *kingpin.FlagModel) string {
	name := f.Name
	if f.IsBoolFlag() && negatable[f.Name] {
		name = "[no-]" + name
	}
	var s string
	switch {
	case f.Short != 0:
		s = fmt.Sprintf("-%c, --%s", f.Short, name)
	case haveShort:
		s = "    --" + name
	default:
		s = "--" + name
	}
	if !f.IsBoolFlag() {
		s += "=" + f.FormatPlaceHolder()
	}
	return s
}

// manPage is kingpin's ManPageTemplate with a NAME line man(7) accepts
// ("omni \- summary"), a .TH line whose fields are quoted, negatable
// flags shown as in help, and the EXIT STATUS, ENVIRONMENT, FILES and
// EXAMPLES sections.
func manPage(summary string) string {
	return strings.NewReplacer("@SUMMARY@", summary, "@EXIT@", exitStatusMan, "@ENV@", environmentMan, "@EXAMPLES@", examplesMan).Replace(manTemplate)
}

const manTemplate = `{{define "FormatFlags" -}}
{{range .Flags -}}
{{if not .Hidden -}}
.TP
\fB{{if .Short}}-{{.Short|Char}}, {{end}}--{{.|ManFlagName}}{{if not .IsBoolFlag}}={{.FormatPlaceHolder}}{{end -}}\fR
{{.Help}}
{{end -}}
{{end -}}
{{end -}}

{{define "FormatCommand" -}}
{{if .FlagSummary}} {{.FlagSummary}}{{end -}}
{{range .Args}}{{if not .Hidden}} {{if not .Required}}[{{end}}{{if .PlaceHolder}}{{.PlaceHolder}}{{else}}<{{.Name}}>{{end}}{{if .Value|IsCumulative}}...{{end}}{{if not .Required}}]{{end}}{{end}}{{end -}}
{{end -}}

{{define "FormatCommands" -}}
{{range .FlattenedCommands -}}
{{if not .Hidden -}}
.SS
\fB{{.FullCommand}}{{template "FormatCommand" . -}}\fR
.PP
{{.Help}}
{{template "FormatFlags" . -}}
{{end -}}
{{end -}}
{{end -}}

.TH "{{.App.Name|ToUpper}}" 1 "" "{{.App.Version}}" "User Commands"
.SH NAME
{{.App.Name}} \- @SUMMARY@
.SH SYNOPSIS
.TP
\fB{{.App.Name}}{{template "FormatCommand" .App}} <command> [<args> ...]\fR
.SH DESCRIPTION
{{.App.Help}}
.SH OPTIONS
{{template "FormatFlags" .App -}}
.SH COMMANDS
{{template "FormatCommands" .App -}}
.SH "EXIT STATUS"
@EXIT@
.SH ENVIRONMENT
@ENV@
.SH EXAMPLES
@EXAMPLES@
.SH "SEE ALSO"
.BR ssh (1),
.BR ssh_config (5),
.BR systemctl (1),
.BR journalctl (1);
the documentation in the docs/ directory of omni's source.
`

const exitStatusMan = `.TP
.B 0
Success.
.TP
.B 1
Failed: a step or a health check failed, or a remote command timed out; for service status, a listed service is not running and healthy, or could not be read on a host that answered.
.TP
.B 2
Usage error, an invalid inventory or playbook, or a registry that cannot be used (a file that cannot be read or written; an etcd cluster that does not answer or refuses).
.TP
.B 3
Partial: a fleet run where some hosts succeeded and others failed, were unreachable or were not touched.
.TP
.B 4
A host could not be reached or its connection was lost (no answer to keepalives), authentication was refused, or its host key is not trusted.
.TP
.B 5
Refused: not confirmed, a confirmation needed without a terminal (pass \-\-yes), another run holds the lock, or another process holds the registry file.
.TP
.B 130
Interrupted by SIGINT or SIGTERM.`

const environmentMan = `.TP
.B OMNI_INVENTORY
The inventory file (\-\-inventory); default inventory.yaml.
.TP
.B OMNI_PLAYBOOKS
The directory of playbook overrides (\-\-playbooks).
.TP
.B OMNI_REGISTRY
The service registry file (\-\-registry); refused when the inventory's registry is etcd.
.TP
.B OMNI_SSH_CONFIG
The OpenSSH client config to honour, or none (\-\-ssh\-config).
.TP
.B XDG_STATE_HOME
Where the default registry (omni/registry.db) and the lab (omni/lab) live; default ~/.local/state.
.TP
.B SSH_AUTH_SOCK
The SSH agent whose keys are offered, with the inventory's identity files.
.TP
.B USER
The SSH user when neither the inventory nor the SSH config names one.
.TP
.B NO_COLOR
When set, no colour (https://no\-color.org); TERM=dumb has the same effect.
.TP
.BR OMNI_HOST ", " OMNI_SERVICE ", " OMNI_ADDRESS
Set by omni in the environment of a command\-managed service's start, stop, status and logs commands on the host.`

const examplesMan = `.TP
.B omni inventory check
Validate the inventory; errors are given as FILE:LINE.
.TP
.B omni service status all
The state and health of every service on every host.
.TP
.B omni service restart primary\-bastion api\-gateway \-\-dry\-run
Print the planned steps and change nothing.
.TP
.B omni service restart worker container\-runtime \-\-rolling \-\-batch 1
Restart the service on every host of role worker, one host at a time, each healthy before the next.
.TP
.B omni service stop worker1 container\-runtime \-\-yes
Stop a service without asking (a script; without \-\-yes and a terminal omni refuses, exit 5).
.TP
.B omni service logs worker1 container\-runtime \-n 50 \-f
The last 50 lines of the service's log, then follow it.
.TP
.B omni lab up
Start a local lab of SSH hosts on loopback to try omni on.`

// manFuncs are the template functions manPage uses beyond kingpin's.
func manFuncs() template.FuncMap {
	return template.FuncMap{
		"ToUpper": strings.ToUpper,
		"ManFlagName": func(f *kingpin.FlagModel) string {
			if f.IsBoolFlag() && negatable[f.Name] {
				return "[no\\-]" + f.Name
			}
			return f.Name
		},
	}
}

// manSummary is the man page's NAME line, after "omni \-".
const manSummary = `manage the services of a fleet of hosts over SSH, from a YAML inventory`

func mergeFuncs(maps ...template.FuncMap) template.FuncMap {
	out := template.FuncMap{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
