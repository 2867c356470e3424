package inventory

import (
	"errors"
	"strings"
	"testing"
)

// TestLoadErrors loads broken inventories. Each want line is LINE: message;
// Load must report exactly those, in that order, as PATH:LINE: message.
func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    []string
	}{
		{
			name: "unknown key with did-you-mean",
			content: `version: 1
hosts:
  worker1:
    adress: 10.0.0.1
    roles: [web]
roles: {web: []}
`,
			want: []string{
				`3: missing required key "address" in host "worker1"`,
				`4: unknown key "adress" in host "worker1" (did you mean "address"?)`,
			},
		},
		{
			name: "unknown key without a close match",
			content: `version: 1
services:
  nginx: {colour: blue}
`,
			want: []string{`3: unknown key "colour" in service "nginx"`},
		},
		{
			name: "unknown top-level key",
			content: `version: 1
host: {}
`,
			want: []string{`2: unknown key "host" in inventory (did you mean "hosts"?)`},
		},
		{
			name: "unknown key in health http",
			content: `version: 1
services:
  nginx:
    health:
      http: {port: 80, expected: 204}
`,
			want: []string{`5: unknown key "expected" in http check of service "nginx" (did you mean "expect"?)`},
		},
		{
			name: "missing address",
			content: `version: 1
hosts:
  worker1: {roles: [web]}
roles: {web: []}
`,
			want: []string{`3: missing required key "address" in host "worker1"`},
		},
		{
			name: "missing and empty roles",
			content: `version: 1
hosts:
  worker1: {address: 10.0.0.1}
  worker2: {address: 10.0.0.2, roles: []}
`,
			want: []string{
				`3: missing required key "roles" in host "worker1"`,
				`4: invalid roles in host "worker2": must list at least one role`,
			},
		},
		{
			name: "missing version",
			content: `hosts: {}
`,
			want: []string{`1: missing required key "version" in inventory (use "version: 1")`},
		},
		{
			name: "unsupported version",
			content: `version: 2
`,
			want: []string{`1: unsupported version 2: this omni reads version 1`},
		},
		{
			name: "bad port",
			content: `version: 1
defaults:
  port: ssh
hosts:
  worker1: {address: 10.0.0.1, roles: [web], port: 70000}
roles: {web: []}
services:
  nginx:
    health: {port: 0}
`,
			want: []string{
				`3: invalid port in defaults: must be an integer, got "ssh"`,
				`5: invalid port in host "worker1": 70000 is out of range 1-65535`,
				`9: invalid port in health of service "nginx": 0 is out of range 1-65535`,
			},
		},
		{
			name: "bad duration",
			content: `version: 1
defaults:
  connect_timeout: 10
  stop_grace: -1s
services:
  nginx:
    start_timeout: soon
    health: {timeout: 0s}
`,
			want: []string{
				`3: invalid connect_timeout in defaults: "10" is not a duration (use a number and a unit, e.g. "10s" or "500ms")`,
				`4: invalid stop_grace in defaults: must not be negative`,
				`7: invalid start_timeout in service "nginx": "soon" is not a duration (use a number and a unit, e.g. "10s" or "500ms")`,
				`8: invalid timeout in health of service "nginx": must be greater than zero`,
			},
		},
		{
			name: "wrong types",
			content: `version: 1
defaults:
  sudo: yes
  user: [a, b]
services:
  nginx:
    requires: nginx-exporter
  other: [a]
`,
			want: []string{
				`3: invalid sudo in defaults: must be true or false, got "yes"`,
				`4: invalid user in defaults: must be a string, got a list`,
				`7: invalid requires in service "nginx": must be a list, got "nginx-exporter"`,
				`8: service "other" must be a mapping, got a list`,
			},
		},
		{
			name: "duplicate host",
			content: `version: 1
hosts:
  worker1: {address: 10.0.0.1, roles: [web]}
  worker2: {address: 10.0.0.2, roles: [web]}
  worker1: {address: 10.0.0.3, roles: [web]}
roles: {web: []}
`,
			want: []string{`5: duplicate host "worker1" (first defined at line 3)`},
		},
		{
			name: "duplicate key",
			content: `version: 1
hosts:
  worker1:
    address: 10.0.0.1
    roles: [web]
    address: 10.0.0.2
roles: {web: []}
`,
			want: []string{`6: duplicate key "address" in host "worker1" (first defined at line 4)`},
		},
		{
			name: "invalid names",
			content: `version: 1
hosts:
  worker 1: {address: 10.0.0.1, roles: [web]}
  Worker2: {address: 10.0.0.2, roles: [web]}
roles:
  web: []
  web;rm: []
services:
  -nginx: {}
`,
			want: []string{
				`3: invalid host name "worker 1": ` + nameRule,
				`4: invalid host name "Worker2": ` + nameRule,
				`7: invalid role name "web;rm": ` + nameRule,
				`9: invalid service name "-nginx": ` + nameRule,
			},
		},
		{
			name: "undefined role",
			content: `version: 1
hosts:
  worker1:
    address: 10.0.0.1
    roles:
      - all
      - wroker
roles:
  worker: []
`,
			want: []string{`7: role "wroker" is not defined (did you mean "worker"?)`},
		},
		{
			name: "undefined service in role",
			content: `version: 1
roles:
  bastion: [api-gateway, api-gatway, auth]
services:
  api-gateway: {}
`,
			want: []string{
				`3: service "api-gatway" is not defined (did you mean "api-gateway"?)`,
				`3: service "auth" is not defined`,
			},
		},
		{
			name: "via unknown host and itself",
			content: `version: 1
hosts:
  bastion1: {address: 203.0.113.10, roles: [b]}
  worker1: {address: 10.0.0.1, roles: [b], via: bastoin1}
  worker2: {address: 10.0.0.2, roles: [b], via: worker2}
roles: {b: []}
`,
			want: []string{
				`4: host "bastoin1" is not defined (did you mean "bastion1"?)`,
				`5: host "worker2" cannot be its own bastion (via)`,
			},
		},
		{
			name: "via loop",
			content: `version: 1
hosts:
  a: {address: 10.0.0.1, roles: [r], via: b}
  b: {address: 10.0.0.2, roles: [r], via: c}
  c: {address: 10.0.0.3, roles: [r], via: a}
  d: {address: 10.0.0.4, roles: [r], via: a}
roles: {r: []}
`,
			want: []string{`5: via loop: a -> b -> c -> a`},
		},
		{
			name: "requires unknown service",
			content: `version: 1
services:
  api:
    requires:
      - auth-servce
      - metrics@edge
  auth-service: {}
`,
			want: []string{
				`5: service "auth-servce" is not defined (did you mean "auth-service"?)`,
				`6: service "metrics" is not defined`,
				`6: host or role "edge" is not defined`,
			},
		},
		{
			name: "requires unknown host or role",
			content: `version: 1
hosts:
  worker1: {address: 10.0.0.1, roles: [worker]}
roles:
  worker: [api, db]
services:
  api:
    requires: [db@workr1, db@wroker, db@worker1, db@worker, db@all]
  db: {}
`,
			want: []string{
				`8: host or role "workr1" is not defined (did you mean "worker1"?)`,
				`8: host or role "wroker" is not defined (did you mean "worker"?)`,
			},
		},
		{
			name: "malformed requirement",
			content: `version: 1
services:
  api:
    requires: ["@db", "db@", "db@a@b"]
  db: {}
`,
			want: []string{
				`4: invalid requirement "@db": use "service", "service@host" or "service@role"`,
				`4: invalid requirement "db@": use "service", "service@host" or "service@role"`,
				`4: invalid requirement "db@a@b": use "service", "service@host" or "service@role"`,
			},
		},
		{
			name: "dependency cycle",
			content: `version: 1
services:
  a:
    requires: [b]
  b:
    requires: [c]
  c:
    requires:
      - a
  d:
    requires: [d]
`,
			want: []string{
				`9: dependency cycle: a -> b -> c -> a`,
				`11: dependency cycle: d -> d`,
			},
		},
		{
			name: "dependency cycle ignores qualifiers",
			content: `version: 1
hosts:
  h1: {address: 10.0.0.1, roles: [r]}
roles: {r: [a, b]}
services:
  a: {requires: [b@h1]}
  b: {requires: [a@r]}
`,
			want: []string{`7: dependency cycle: a -> b -> a`},
		},
		{
			name: "name both host and role",
			content: `version: 1
hosts:
  db: {address: 10.0.0.1, roles: [db]}
roles:
  db: []
`,
			want: []string{`5: name "db" is both a host and a role`},
		},
		{
			name: "unit on a command service",
			content: `version: 1
services:
  legacy:
    manager: command
    unit: legacy.service
    commands: {start: /opt/legacy/start, status: /opt/legacy/status}
`,
			want: []string{`5: unit is not allowed in service "legacy": it uses manager "command"`},
		},
		{
			name: "commands on a systemd service",
			content: `version: 1
services:
  nginx:
    commands: {start: nginx}
`,
			want: []string{`4: commands are not allowed in service "nginx": it uses manager "systemd" (set manager: command to use commands)`},
		},
		{
			name: "missing start on a command service",
			content: `version: 1
services:
  legacy:
    manager: command
    commands:
      status: /opt/legacy/status
      stop: /opt/legacy/stop
  bare:
    manager: command
`,
			want: []string{
				`5: missing required key "start" in commands of service "legacy"`,
				`8: missing required key "commands" in service "bare" (manager "command" needs start and status)`,
			},
		},
		{
			name: "bad manager and http path",
			content: `version: 1
defaults:
  manager: upstart
services:
  api:
    health:
      http: {port: 8080, path: healthz, expect: 999}
`,
			want: []string{
				`3: invalid manager in defaults: "upstart" is not a manager (use "systemd" or "command")`,
				`7: invalid path in http check of service "api": "healthz" must start with "/"`,
				`7: invalid expect in http check of service "api": 999 is out of range 100-599`,
			},
		},
		{
			name: "paths",
			content: `version: 1
defaults:
  identity_file: ~bob/.ssh/id
  known_hosts: ""
`,
			want: []string{
				`3: invalid identity_file in defaults: "~bob/.ssh/id": only "~/" (your home directory) is expanded`,
				`4: invalid known_hosts in defaults: must not be empty`,
			},
		},
		{
			name: "duplicates in lists",
			content: `version: 1
hosts:
  w1: {address: 10.0.0.1, roles: [r, r]}
roles:
  r: [a, a, b]
services:
  a: {requires: [b, b]}
  b: {}
`,
			want: []string{
				`3: "r" is listed twice in roles in host "w1" (first at line 3)`,
				`5: "a" is listed twice in role "r" (first at line 5)`,
				`7: "b" is listed twice in requires in service "a" (first at line 7)`,
			},
		},
		{
			name: "same-host requirement the host does not run",
			content: `version: 1
hosts:
  bastion1: {address: 10.0.0.1, roles: [bastion]}
  worker1: {address: 10.0.0.2, roles: [worker]}
roles:
  bastion: [api]
  worker: [runtime]
services:
  api: {requires: [runtime, runtime@worker]}
  runtime: {}
`,
			want: []string{
				`9: service "api" requires "runtime" on the same host, but host "bastion1" (roles: bastion) does not run it; for another host write "runtime@ROLE"`,
			},
		},
		{
			name: "requirement on a host or role that does not run the service",
			content: `version: 1
hosts:
  h1: {address: 10.0.0.1, roles: [web]}
  h2: {address: 10.0.0.2, roles: [db]}
roles:
  web: [api]
  db: [pg]
services:
  api: {requires: [pg@h1, pg@web, pg@db, pg@h2]}
  pg: {}
`,
			want: []string{
				`9: service "api" requires "pg@h1", but host "h1" (roles: web) does not run "pg"`,
				`9: service "api" requires "pg@web", but no host with role "web" runs "pg"`,
			},
		},
		{
			name: "requirement on a disabled service",
			content: `version: 1
hosts:
  w1: {address: 10.0.0.1, roles: [r]}
roles:
  r: [a, b]
services:
  a: {requires: [b]}
  b: {enabled: false}
`,
			want: []string{`7: service "a" requires "b", which is disabled (enabled: false)`},
		},
		{
			// systemctl would expand a pattern to other units.
			name: "unit names that are patterns or not unit names",
			content: "version: 1\nhosts:\n  h1: {address: 10.0.0.1, roles: [r]}\nroles:\n  r: [a, b, c, d]\nservices:\n" +
				"  a: {unit: \"tmpl@*.service\"}\n" +
				"  b: {unit: \"foo bar.service\"}\n" +
				"  c: {unit: \"-x.service\"}\n" +
				"  d: {unit: \"tmpl@a\\\\x2db.service\"}\n",
			want: []string{
				`7: invalid unit in service "a": "tmpl@*.service" is not a unit name (letters, digits and : _ . @ \ -, not starting with -; no pattern, which systemctl would match against other units)`,
				`8: invalid unit in service "b": "foo bar.service" is not a unit name (letters, digits and : _ . @ \ -, not starting with -; no pattern, which systemctl would match against other units)`,
				`9: invalid unit in service "c": "-x.service" is not a unit name (letters, digits and : _ . @ \ -, not starting with -; no pattern, which systemctl would match against other units)`,
			},
		},
		{
			// An address reaches known_hosts (--accept-new-host-keys) and
			// ssh: a comma, '*' or line break there would be a pattern
			// that trusts the host's key for others.
			name: "addresses that are not host names or IP addresses",
			content: "version: 1\nhosts:\n" +
				"  h1: {address: \"::ffff:127.0.0.1%x,*\", roles: [r]}\n" +
				"  h2: {address: \"a.example,*\", roles: [r]}\n" +
				"  h3: {address: \"-oProxyCommand=id\", roles: [r]}\n" +
				"  h4: {address: \"[::1]\", roles: [r]}\n" +
				"  h5: {address: \"a..b\", roles: [r]}\n" +
				"  ok1: {address: \"fe80::1%eth0\", roles: [r]}\n" +
				"  ok2: {address: \"db-1.prod_x.example.\", roles: [r]}\n" +
				"roles:\n  r: [a]\nservices:\n  a: {}\n",
			want: []string{
				`3: invalid address in host "h1": "::ffff:127.0.0.1%x,*" has an IPv6 zone with characters other than letters, digits, '.', '-' and '_'`,
				`4: invalid address in host "h2": "a.example,*" is not a host name or an IP address (a host name is letters, digits, '-' and '_', in labels separated by dots)`,
				`5: invalid address in host "h3": "-oProxyCommand=id" has a label that starts with '-'`,
				`6: invalid address in host "h4": "[::1]" is not a valid IP address`,
				`7: invalid address in host "h5": "a..b" has an empty label (two dots in a row, or a leading dot)`,
			},
		},
		{
			// service_address: health checks dial it, services get it as
			// OMNI_ADDRESS: an address too (it was not checked at all).
			name: "service addresses that are not host names or IP addresses",
			content: "version: 1\nhosts:\n" +
				"  h1: {address: 10.0.0.1, service_address: \"127.0.0.1:8080\", roles: [r]}\n" +
				"  h2: {address: 10.0.0.2, service_address: \"$(reboot)\", roles: [r]}\n" +
				"  ok1: {address: 10.0.0.3, service_address: \"fe80::1%eth0\", roles: [r]}\n" +
				"  ok2: {address: 10.0.0.4, service_address: \"svc.internal\", roles: [r]}\n" +
				"roles:\n  r: [a]\nservices:\n  a: {}\n",
			want: []string{
				`3: invalid service_address in host "h1": "127.0.0.1:8080" is not a valid IP address`,
				`4: invalid service_address in host "h2": "$(reboot)" is not a host name or an IP address (a host name is letters, digits, '-' and '_', in labels separated by dots)`,
			},
		},
		{
			// On another host or role too: omni would start it there
			// (check-deps), and then never show or manage it.
			name: "qualified requirement on a disabled service",
			content: `version: 1
hosts:
  w1: {address: 10.0.0.1, roles: [r]}
  w2: {address: 10.0.0.2, roles: [s]}
roles:
  r: [a]
  s: [b]
services:
  a: {requires: [b@w2, b@s]}
  b: {enabled: false}
`,
			want: []string{
				`9: service "a" requires "b@w2", which is disabled (enabled: false)`,
				`9: service "a" requires "b@s", which is disabled (enabled: false)`,
			},
		},
		{
			name: "yaml syntax error",
			content: `version: 1
hosts:
  worker1:
	address: 10.0.0.1
`,
			want: []string{`4: invalid YAML: found character that cannot start any token`},
		},
		{
			// yaml.v3 says line 3, where the scalar before the tab started.
			name:    "tab in the indentation",
			content: "version: 1\nhosts:\n  worker1:\n    address: 10.0.0.1\n\troles: [r]\n",
			want:    []string{`5: invalid YAML: found a tab character that violates indentation`},
		},
		{
			name: "yaml syntax error on the first line",
			content: `version: [1
`,
			want: []string{`1: invalid YAML: did not find expected ',' or ']'`},
		},
		{
			name: "unknown anchor",
			content: `version: 1
hosts:
  a: {address: 10.0.0.1, roles: [r]}
  b: *host
`,
			want: []string{`4: invalid YAML: unknown anchor 'host' referenced`},
		},
		{
			name:    "empty file",
			content: "# nothing yet\n",
			want:    []string{`1: inventory is empty`},
		},
		{
			name:    "not a mapping",
			content: "- version: 1\n",
			want:    []string{`1: the inventory must be a mapping with keys version, defaults, registry, hosts, roles, services; got a list`},
		},
		{
			name:    "two documents",
			content: "version: 1\n---\nversion: 1\n",
			want:    []string{`2: unexpected second YAML document: an inventory is one document`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("USER", "omni")
			path := writeInventory(t, tt.content)
			inv, err := Load(path)
			if inv != nil {
				t.Errorf("Load returned an inventory along with errors")
			}
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("Load error = %v (%T), want an ErrorList", err, err)
			}
			want := make([]string, len(tt.want))
			for i, w := range tt.want {
				want[i] = path + ":" + w
			}
			if got := err.Error(); got != strings.Join(want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
			}
			for _, e := range list {
				if e.File != path || e.Line <= 0 {
					t.Errorf("error %q: File = %q, Line = %d", e.Msg, e.File, e.Line)
				}
			}
		})
	}
}
