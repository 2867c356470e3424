package inventory

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const configBase = `version: 1
defaults: {user: ops}
hosts:
  web1: {address: 10.0.0.1, roles: [web]}
  web2:
    address: 10.0.0.2
    roles: [web]
    config:
      app:
        env: {PORT: 9090, EXTRA: "x"}
        dropin: {Service: {LimitNOFILE: 1024, Nice: 5}, Unit: {After: [b.target]}}
        files: [{path: /etc/app/app.conf, source: other.conf, mode: "0600"}]
roles: {web: [app, cmd]}
services:
  cmd:
    manager: command
    commands: {start: "true", status: "true"}
    env: {A: "1"}
  app:
    unit: app-main.service
    env:
      PORT: 8080
      MODE: on
      DB_PASSWORD: {secret: true, from_env: OMNI_TEST_DB}
      TOKEN: {secret: true, from_file: ~/tok}
      HOSTNAME_: {value: "a b"}
    env_file: /etc/app/app.env
    dropin:
      Service:
        LimitNOFILE: 65536
        Environment: ["A=1", "B=2"]
    files:
      - path: /etc/app/app.conf
        source: app.conf
        mode: 0640
        owner: app
        group: app
        validate: app --check %s
        on_change: reload
      - {path: /etc/app//b.key, source: /abs/b.key, secret: true, on_change: none}
`

// TestConfigDecode: every key of env, env_file, dropin and files, with the
// literal text of scalars, and a host's overrides merged by ConfigOf.
func TestConfigDecode(t *testing.T) {
	home, _ := os.UserHomeDir()
	inv, err := Parse("inv.yaml", []byte(configBase))
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := filepath.Abs(".")
	s, _ := inv.Service("app")
	c := s.Config
	wantEnv := []EnvVar{
		{Key: "PORT", Value: "8080", Line: 22},
		{Key: "MODE", Value: "on", Line: 23},
		{Key: "DB_PASSWORD", Secret: true, FromEnv: "OMNI_TEST_DB", Line: 24},
		{Key: "TOKEN", Secret: true, FromFile: filepath.Join(home, "tok"), Line: 25},
		{Key: "HOSTNAME_", Value: "a b", Line: 26},
	}
	if !reflect.DeepEqual(c.Env, wantEnv) {
		t.Errorf("env = %+v\nwant %+v", c.Env, wantEnv)
	}
	if c.EnvFile != "/etc/app/app.env" || c.EnvLine != 21 || c.EnvFileLine != 27 || c.DropinLine != 28 {
		t.Errorf("env_file %q lines %d %d %d", c.EnvFile, c.EnvLine, c.EnvFileLine, c.DropinLine)
	}
	wantDropin := []DropinSection{{Name: "Service", Line: 29, Keys: []DropinKey{
		{Key: "LimitNOFILE", Values: []string{"65536"}, Line: 30},
		{Key: "Environment", Values: []string{"A=1", "B=2"}, Line: 31},
	}}}
	if !reflect.DeepEqual(c.Dropin, wantDropin) {
		t.Errorf("dropin = %+v", c.Dropin)
	}
	wantFiles := []ConfigFile{
		{Path: "/etc/app/app.conf", Source: filepath.Join(dir, "app.conf"), Mode: 0o640, Owner: "app", Group: "app", Validate: "app --check %s", OnChange: "reload", Line: 33},
		{Path: "/etc/app/b.key", Source: "/abs/b.key", OnChange: "none", Secret: true, Line: 40},
	}
	if !reflect.DeepEqual(c.Files, wantFiles) {
		t.Errorf("files = %+v\nwant %+v", c.Files, wantFiles)
	}
	cmd, _ := inv.Service("cmd")
	web1, _ := inv.Host("web1")
	if got := inv.ConfigOf(web1, cmd).EnvFile; cmd.Config.EnvFile != "" || got != "/etc/omni/env/cmd.env" {
		t.Errorf("default env_file = %q, declared %q", got, cmd.Config.EnvFile)
	}

	if got := inv.ConfigOf(web1, s); !reflect.DeepEqual(got, c) {
		t.Errorf("web1 has no overrides, got %+v", got)
	}
	web2, _ := inv.Host("web2")
	o := inv.ConfigOf(web2, s)
	var keys []string
	for _, v := range o.Env {
		keys = append(keys, v.Key+"="+v.Value)
	}
	if got := strings.Join(keys, " "); got != "PORT=9090 MODE=on DB_PASSWORD= TOKEN= HOSTNAME_=a b EXTRA=x" {
		t.Errorf("web2 env = %s", got)
	}
	if o.Env[0].Line != 10 {
		t.Errorf("override line %d", o.Env[0].Line)
	}
	if len(o.Dropin) != 2 || o.Dropin[1].Name != "Unit" {
		t.Fatalf("web2 dropin = %+v", o.Dropin)
	}
	var dk []string
	for _, k := range o.Dropin[0].Keys {
		dk = append(dk, k.Key+"="+strings.Join(k.Values, ","))
	}
	if got := strings.Join(dk, " "); got != "LimitNOFILE=1024 Environment=A=1,B=2 Nice=5" {
		t.Errorf("web2 dropin Service = %s", got)
	}
	if len(o.Files) != 2 || o.Files[0].Mode != 0o600 || o.Files[0].Source != filepath.Join(dir, "other.conf") || o.Files[1].Path != "/etc/app/b.key" {
		t.Errorf("web2 files = %+v", o.Files)
	}
	// The base is not changed by a merge.
	if s.Config.Env[0].Value != "8080" || len(s.Config.Dropin[0].Keys) != 2 {
		t.Errorf("merge changed the base: %+v", s.Config)
	}
}

// TestConfigErrors: each mistake is reported at its line, and no env
// value appears in any message.
func TestConfigErrors(t *testing.T) {
	const head = `version: 1
defaults: {user: ops}
roles: {web: [app, cmd], other: [lone]}
services:
  lone: {}
  cmd:
    manager: command
    commands: {start: "true", status: "true"}
`
	cases := []struct {
		name, yaml, want string
	}{
		{"bad key", "  app:\n    env: {1X: a}\n", `inv.yaml:10: invalid key "1X" in env of service "app"`},
		{"control char", "  app:\n    env: {K: \"s3cr\\tet\"}\n", `inv.yaml:10: invalid value of K in env of service "app": it contains a control character`},
		{"newline block", "  app:\n    env:\n      K: |\n        line1\n        line2\n", `inv.yaml:11: invalid value of K in env of service "app": it contains a control character`},
		{"two sources", "  app:\n    env: {K: {value: a, from_env: B}}\n", `inv.yaml:10: invalid K in env of service "app": give exactly one of value, from_env and from_file (got 2)`},
		{"no source", "  app:\n    env: {K: {secret: true}}\n", `(got 0)`},
		{"secret not bool", "  app:\n    env: {K: {value: a, secret: hunter2}}\n", `inv.yaml:10: invalid secret in K in env of service "app": must be true or false`},
		{"bad from_env", "  app:\n    env: {K: {from_env: \"A-B\"}}\n", `"A-B" is not an environment variable name`},
		{"unknown env key", "  app:\n    env: {K: {valu: a}}\n", `unknown key "valu"`},
		{"env list", "  app:\n    env: [a]\n", `inv.yaml:10: env of service "app" must be a mapping of KEY: value, got a list`},
		{"env_file relative", "  app:\n    env_file: app.env\n", `inv.yaml:10: invalid env_file in service "app": "app.env" must be an absolute path on the host`},
		{"env_file dotdot", "  app:\n    env_file: /etc/../x.env\n", `must not contain ".."`},
		{"env_file space", "  app:\n    env_file: /etc/a b.env\n", `an environment file's path uses letters`},
		{"dropin command", "  app:\n    manager: command\n    commands: {start: a, status: b}\n    dropin: {Service: {Nice: 1}}\n", `inv.yaml:12: dropin is not allowed in service "app": it uses manager "command"`},
		{"dropin section", "  app:\n    dropin: {service: {Nice: 1}}\n", `inv.yaml:10: invalid section "service"`},
		{"dropin key", "  app:\n    dropin: {Service: {Nice-x: 1}}\n", `inv.yaml:10: invalid key "Nice-x" in section Service`},
		{"dropin newline", "  app:\n    dropin:\n      Service:\n        ExecStartPre: \"a\\nb\"\n", `inv.yaml:12: invalid ExecStartPre in section Service of dropin of service "app": a value must not contain control characters`},
		{"dropin backslash", "  app:\n    dropin: {Service: {ExecStart: 'a \\'}}\n", `must not end in a backslash`},
		{"dropin empty list", "  app:\n    dropin: {Service: {Environment: []}}\n", `an empty list`},
		{"dropin nested", "  app:\n    dropin: {Service: {Environment: [[a]]}}\n", `list items must be values`},
		{"file no path", "  app:\n    files: [{source: a}]\n", `inv.yaml:10: missing required key "path" in file 1 of files of service "app"`},
		{"file no source", "  app:\n    files: [{path: /a}]\n", `missing required key "source"`},
		{"file relative", "  app:\n    files: [{path: a, source: a}]\n", `"a" must be an absolute path on the host`},
		{"file dir", "  app:\n    files: [{path: /etc/, source: a}]\n", `must name a file, not a directory`},
		{"file twice", "  app:\n    files:\n      - {path: /a, source: a}\n      - {path: /b/../a, source: a}\n", `must not contain ".."`},
		{"file twice clean", "  app:\n    files:\n      - {path: /a, source: a}\n      - {path: //a, source: b}\n", `inv.yaml:12: file "/a" is declared twice in files of service "app" (first at line 11)`},
		{"mode decimal", "  app:\n    files: [{path: /a, source: a, mode: 640x}]\n", `must be an octal permission mode such as "0640"`},
		{"mode 8", "  app:\n    files: [{path: /a, source: a, mode: \"0648\"}]\n", `octal permission mode`},
		{"mode setuid", "  app:\n    files: [{path: /a, source: a, mode: \"4755\"}]\n", `octal permission mode`},
		{"mode zero", "  app:\n    files: [{path: /a, source: a, mode: \"000\"}]\n", `unreadable`},
		{"owner", "  app:\n    files: [{path: /a, source: a, owner: \"a b\"}]\n", `"a b" is not a user or group name`},
		{"group", "  app:\n    files: [{path: /a, source: a, group: \"x;y\"}]\n", `"x;y" is not a user or group name`},
		{"validate none", "  app:\n    files: [{path: /a, source: a, validate: nginx -t}]\n", `must contain %s exactly once`},
		{"validate twice", "  app:\n    files: [{path: /a, source: a, validate: cp %s %s}]\n", `must contain %s exactly once`},
		{"on_change", "  app:\n    files: [{path: /a, source: a, on_change: restarts}]\n", `"restarts" is not one of restart, reload, none`},
		{"reload command", "  app:\n    manager: command\n    commands: {start: a, status: b}\n    files: [{path: /a, source: a, on_change: reload}]\n", `inv.yaml:12: file "/a" of service "app": on_change: reload needs manager systemd`},
		{"unknown file key", "  app:\n    files: [{path: /a, source: a, template: true}]\n", `unknown key "template" in file 1 of files of service "app"`},
		{"files mapping", "  app:\n    files: {path: /a}\n", `files of service "app" must be a list`},
		{"collision two services", "  app:\n    files: [{path: /etc/x, source: a}]\n  b2:\n    files: [{path: /etc/x, source: b}]\n", `inv.yaml:12: host "h1": files of service "b2" writes /etc/x, which files of service "app" (line 10) writes too`},
		{"collision env_file", "  app:\n    env: {A: b}\n    files: [{path: /etc/omni/env/app.env, source: a}]\n", `inv.yaml:11: host "h1": files of service "app" writes /etc/omni/env/app.env, which env_file of service "app" (line 10) writes too`},
		{"collision env_file others", "  app:\n    env: {A: b}\n  b2:\n    env: {A: b}\n    env_file: /etc/omni/env/app.env\n", `inv.yaml:13: host "h1": env_file of service "b2" writes /etc/omni/env/app.env, which env_file of service "app" (line 10) writes too`},
		{"collision dropin unit", "  app:\n    dropin: {Service: {Nice: 1}}\n  b2:\n    unit: app.service\n    env: {A: b}\n", `inv.yaml:13: host "h1": drop-in of service "b2" writes /etc/systemd/system/app.service.d/50-omni.conf, which drop-in of service "app" (line 10) writes too`},
		{"bad unit", "  app:\n    unit: ../x.service\n    env: {A: b}\n", `inv.yaml:9: service "app" declares configuration, but its unit "../x.service" is not a plain unit name`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hosts := "hosts:\n  h1: {address: a, roles: [web2]}\n"
			text := head + c.yaml + hosts + "  h9: {address: b, roles: [other]}\n" // h9 has no config
			text = strings.Replace(text, "roles: {web: [app, cmd], other: [lone]}", "roles: {web: [app, cmd], other: [lone], web2: [app, b2]}", 1)
			if !strings.Contains(c.yaml, "  b2:") {
				text = strings.Replace(text, "web2: [app, b2]", "web2: [app]", 1)
			}
			_, err := Parse("inv.yaml", []byte(text))
			if err == nil {
				t.Fatalf("no error for\n%s", text)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("got\n%v\nwant %q", err, c.want)
			}
			for _, secret := range []string{"s3cr", "hunter2", "line1"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error shows the value %q: %v", secret, err)
				}
			}
		})
	}
}

// TestConfigOverrideErrors: a host's config names a service it runs, and
// gives it what its manager allows.
func TestConfigOverrideErrors(t *testing.T) {
	const inv = `version: 1
defaults: {user: ops}
hosts:
  h1:
    address: a
    roles: [web]
    config:
      ap: {env: {A: b}}
      lone: {env: {A: b}}
      cmd: {dropin: {Service: {Nice: 1}}}
      off: {env: {A: b}}
      app: {envs: {}}
  h2:
    address: b
    roles: [web]
    config:
      app: {files: [{path: /etc/omni/env/app.env, source: x}]}
      cmd: {files: [{path: /x, source: x, on_change: reload}]}
roles: {web: [app, cmd, off], other: [lone]}
services:
  lone: {}
  off: {enabled: false}
  app:
    env: {A: b}
  cmd:
    manager: command
    commands: {start: "true", status: "true"}
`
	_, err := Parse("inv.yaml", []byte(inv))
	want := []string{
		`inv.yaml:8: config of host "h1": service "ap" is not defined (did you mean "app"?)`,
		`inv.yaml:9: config of host "h1": the host does not run service "lone" (roles: web)`,
		`inv.yaml:10: config of host "h1": dropin is not allowed for service "cmd": it uses manager "command"`,
		`inv.yaml:12: unknown key "envs" in config of service "app" on host "h1"`,
		`inv.yaml:17: host "h2": files of service "app" writes /etc/omni/env/app.env, which env_file of service "app" (line 24) writes too`,
		`inv.yaml:18: file "/x" of service "cmd": on_change: reload needs manager systemd`,
	}
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in\n%v", w, err)
		}
	}
	if strings.Contains(err.Error(), `"off"`) {
		t.Errorf("a disabled service in the host's roles may have overrides:\n%v", err)
	}
}

// TestConfigModeText: the mode is read from its text, whatever YAML
// thinks of 0640.
func TestConfigModeText(t *testing.T) {
	for text, want := range map[string]uint32{`0640`: 0o640, `"0640"`: 0o640, `640`: 0o640, `"0o600"`: 0o600, `0755`: 0o755, `"0400"`: 0o400} {
		inv, err := Parse("inv.yaml", []byte("version: 1\ndefaults: {user: ops}\nservices:\n  app:\n    files: [{path: /a, source: a, mode: "+text+"}]\n"))
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		s, _ := inv.Service("app")
		if got := uint32(s.Config.Files[0].Mode); got != want {
			t.Errorf("mode %s = %o, want %o", text, got, want)
		}
	}
}
