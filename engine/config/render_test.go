package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/omni-fleet/omni/inventory"
)

const renderInv = `version: 1
defaults: {user: ops}
hosts:
  web1: {address: 10.0.0.1, roles: [web]}
  web2:
    address: 10.0.0.2
    roles: [web]
    config:
      app:
        env: {PORT: 9090, EXTRA: "x y"}
        dropin: {Service: {LimitNOFILE: 1024}, Unit: {After: [db.service]}}
        files: [{path: /etc/app/app.conf, source: app-web2.conf}]
roles: {web: [app, worker, plain, cmd]}
services:
  app:
    unit: app-main.service
    env:
      PORT: 8080
      MODE: on
      DB_PASSWORD: {secret: true, from_env: OMNI_RENDER_TEST_DB}
      TOKEN: {secret: true, from_file: token.txt}
    dropin:
      Service:
        LimitNOFILE: 65536
        Environment: ["A=1", "B=2"]
      Install: {WantedBy: multi-user.target}
    files:
      - {path: /etc/app/app.conf, source: app.conf, mode: "0640", owner: app, group: app, validate: "app -t %s", on_change: reload}
      - {path: /etc/app/tls.key, source: tls.key, secret: true}
  worker:
    env: {QUEUE: jobs}
  plain: {}
  cmd:
    manager: command
    commands: {start: "true", status: "true"}
    env: {A: "1"}
    files: [{path: /etc/cmd.conf, source: app.conf, on_change: none}]
`

// fixture writes the inventory and its sources into a new directory and
// loads it.
func fixture(t *testing.T, text string) *inventory.Inventory {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"app.conf":       "listen 80;\n",
		"app-web2.conf":  "listen 8080;\n",
		"tls.key":        "-----KEY-----\nsecretkeybytes\n",
		"token.txt":      "tok-3n-value\n",
		"inventory.yaml": text,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	inv, err := inventory.Load(filepath.Join(dir, "inventory.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func render(t *testing.T, inv *inventory.Inventory, host, service string) Set {
	t.Helper()
	s, err := Render(inv, host, service)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRender: the env file, the drop-in and the files of a systemd
// service, byte for byte, with their attributes.
func TestRender(t *testing.T) {
	t.Setenv("OMNI_RENDER_TEST_DB", `pa"ss$word`)
	inv := fixture(t, renderInv)
	set := render(t, inv, "web1", "app")
	if set.Host != "web1" || set.Service != "app" || len(set.Files) != 4 {
		t.Fatalf("set = %+v", set)
	}
	env, dropin, conf, key := set.Files[0], set.Files[1], set.Files[2], set.Files[3]

	wantEnv := "# Written by omni from the inventory (env of service app); changes made here are overwritten.\n" +
		"PORT=\"8080\"\nMODE=\"on\"\nDB_PASSWORD=\"pa\\\"ss\\$word\"\nTOKEN=\"tok-3n-value\"\n"
	if string(env.Content) != wantEnv {
		t.Errorf("env file:\n%s\nwant\n%s", env.Content, wantEnv)
	}
	if env.Kind != KindEnv || env.Path != "/etc/omni/env/app.env" || env.Mode != SecretMode || env.OnChange != OnChangeRestart ||
		strings.Join(env.SecretKeys, ",") != "DB_PASSWORD,TOKEN" || env.Line != 17 || env.DaemonReload || env.Secret {
		t.Errorf("env attributes: %+v", env)
	}

	wantDropin := "# Written by omni from the inventory (service app); changes made here are overwritten.\n" +
		"[Service]\nEnvironmentFile=/etc/omni/env/app.env\nLimitNOFILE=65536\nEnvironment=A=1\nEnvironment=B=2\n\n[Install]\nWantedBy=multi-user.target\n"
	if string(dropin.Content) != wantDropin {
		t.Errorf("drop-in:\n%s\nwant\n%s", dropin.Content, wantDropin)
	}
	if dropin.Kind != KindDropin || dropin.Path != "/etc/systemd/system/app-main.service.d/50-omni.conf" || !dropin.DaemonReload ||
		dropin.Mode != 0 || dropin.OnChange != OnChangeRestart || dropin.HasSecret() || dropin.Line != 22 {
		t.Errorf("drop-in attributes: %+v", dropin)
	}

	wantConf := File{Kind: KindFile, Path: "/etc/app/app.conf", Content: []byte("listen 80;\n"), Mode: 0o640, Owner: "app", Group: "app",
		Validate: "app -t %s", OnChange: OnChangeReload, Line: 28}
	if !equalFile(conf, wantConf) {
		t.Errorf("file = %+v\nwant %+v", conf, wantConf)
	}
	wantKey := File{Kind: KindFile, Path: "/etc/app/tls.key", Content: []byte("-----KEY-----\nsecretkeybytes\n"), Mode: SecretMode,
		OnChange: OnChangeRestart, Secret: true, Line: 29}
	if !equalFile(key, wantKey) {
		t.Errorf("secret file = %+v\nwant %+v", key, wantKey)
	}
}

func equalFile(a, b File) bool {
	return a.Kind == b.Kind && a.Path == b.Path && bytes.Equal(a.Content, b.Content) && a.Mode == b.Mode && a.Owner == b.Owner &&
		a.Group == b.Group && a.Validate == b.Validate && a.OnChange == b.OnChange && a.Secret == b.Secret &&
		strings.Join(a.SecretKeys, ",") == strings.Join(b.SecretKeys, ",") && a.DaemonReload == b.DaemonReload && a.Line == b.Line
}

// TestRenderDeterministic: rendering twice, or from the inventory loaded
// again, gives the same bytes and the same Set.Hash; a changed value
// changes the hash.
func TestRenderDeterministic(t *testing.T) {
	t.Setenv("OMNI_RENDER_TEST_DB", "v1")
	inv := fixture(t, renderInv)
	for _, host := range []string{"web1", "web2"} {
		a, b := render(t, inv, host, "app"), render(t, fixture(t, renderInv), host, "app")
		if a.Hash() != b.Hash() || len(a.Files) != len(b.Files) {
			t.Fatalf("%s: hashes differ: %s %s", host, a.Hash(), b.Hash())
		}
		for i := range a.Files {
			if !equalFile(a.Files[i], b.Files[i]) {
				t.Errorf("%s: file %d differs:\n%+v\n%+v", host, i, a.Files[i], b.Files[i])
			}
			if k := a.Files[i].Kind; k != KindFile && !bytes.HasSuffix(a.Files[i].Content, []byte("\n")) || bytes.HasSuffix(a.Files[i].Content, []byte("\n\n")) {
				t.Errorf("%s: %s does not end in exactly one newline", host, a.Files[i].Path)
			}
		}
	}
	before := render(t, inv, "web1", "app").Hash()
	t.Setenv("OMNI_RENDER_TEST_DB", "v2")
	if render(t, inv, "web1", "app").Hash() == before {
		t.Error("a changed secret does not change the set's hash")
	}
}

// TestRenderOverrides: web2's env keys replace in place and add after, its
// drop-in keys override per section, its file replaces by path.
func TestRenderOverrides(t *testing.T) {
	t.Setenv("OMNI_RENDER_TEST_DB", "db")
	set := render(t, fixture(t, renderInv), "web2", "app")
	env := string(set.Files[0].Content)
	if want := "PORT=\"9090\"\nMODE=\"on\"\nDB_PASSWORD=\"db\"\nTOKEN=\"tok-3n-value\"\nEXTRA=\"x y\"\n"; !strings.HasSuffix(env, want) {
		t.Errorf("env:\n%s\nwant ending\n%s", env, want)
	}
	if set.Files[0].Line != 17 {
		t.Errorf("env line %d", set.Files[0].Line)
	}
	want := "[Service]\nEnvironmentFile=/etc/omni/env/app.env\nLimitNOFILE=1024\nEnvironment=A=1\nEnvironment=B=2\n\n[Install]\nWantedBy=multi-user.target\n\n[Unit]\nAfter=db.service\n"
	if d := string(set.Files[1].Content); !strings.HasSuffix(d, want) {
		t.Errorf("drop-in:\n%s\nwant ending\n%s", d, want)
	}
	if f := set.Files[2]; f.Path != "/etc/app/app.conf" || string(f.Content) != "listen 8080;\n" || f.Mode != 0 || f.OnChange != OnChangeRestart || f.Line != 12 {
		t.Errorf("overridden file = %+v", f)
	}
	if len(set.Files) != 4 || set.Files[3].Path != "/etc/app/tls.key" {
		t.Errorf("files = %d, last %s", len(set.Files), set.Files[len(set.Files)-1].Path)
	}
}

// TestRenderShapes: env without dropin still gets the drop-in that wires
// it; the command manager gets no drop-in; nothing declared, nothing
// rendered.
func TestRenderShapes(t *testing.T) {
	inv := fixture(t, renderInv)
	w := render(t, inv, "web1", "worker")
	if len(w.Files) != 2 || w.Files[0].Mode != 0 || w.Files[0].SecretKeys != nil ||
		string(w.Files[1].Content) != "# Written by omni from the inventory (service worker); changes made here are overwritten.\n[Service]\nEnvironmentFile=/etc/omni/env/worker.env\n" ||
		w.Files[1].Path != "/etc/systemd/system/worker.service.d/50-omni.conf" {
		t.Errorf("worker: %+v", w)
	}
	c := render(t, inv, "web1", "cmd")
	if len(c.Files) != 2 || c.Files[0].Kind != KindEnv || c.Files[1].Kind != KindFile || c.Files[1].OnChange != OnChangeNone {
		t.Errorf("cmd: %+v", c)
	}
	p := render(t, inv, "web1", "plain")
	if !p.Empty() || p.Host != "web1" || p.Service != "plain" {
		t.Errorf("plain: %+v", p)
	}
	if _, err := Render(inv, "web9", "app"); err == nil || !strings.Contains(err.Error(), `unknown host "web9"`) {
		t.Errorf("unknown host: %v", err)
	}
	if _, err := Render(inv, "web1", "ap"); err == nil || !strings.Contains(err.Error(), `unknown service "ap"`) {
		t.Errorf("unknown service: %v", err)
	}
}

// TestRenderErrors: each source that cannot be read or resolved is a
// *RenderError naming the inventory's FILE:LINE, the key or file, and the
// variable or source; never a value.
func TestRenderErrors(t *testing.T) {
	const secret = "hunter2-NEVER-SHOWN"
	head := "version: 1\ndefaults: {user: ops}\nhosts: {h1: {address: a, roles: [r]}}\nroles: {r: [app]}\nservices:\n  app:\n"
	big := strings.Repeat("x", inventory.MaxConfigSourceBytes+1)
	cases := []struct {
		name, yaml string
		env        map[string]string
		files      map[string]string
		want       string
	}{
		{"env unset", "    env:\n      DB: {secret: true, from_env: OMNI_RENDER_UNSET_VAR}\n", nil, nil,
			`inventory.yaml:8: configuration of service "app" on host "h1": env DB: environment variable OMNI_RENDER_UNSET_VAR is not set`},
		{"env newline", "    env: {DB: {secret: true, from_env: OMNI_RENDER_BAD}}\n", map[string]string{"OMNI_RENDER_BAD": secret + "\n" + secret}, nil,
			`inventory.yaml:7: configuration of service "app" on host "h1": env DB: the value of environment variable OMNI_RENDER_BAD contains a control character`},
		{"env invalid utf8", "    env: {DB: {from_env: OMNI_RENDER_BAD}}\n", map[string]string{"OMNI_RENDER_BAD": secret + "\xff"}, nil,
			`env DB: the value of environment variable OMNI_RENDER_BAD is not valid UTF-8`},
		{"from_file missing", "    env: {DB: {secret: true, from_file: nope.txt}}\n", nil, nil,
			`inventory.yaml:7: configuration of service "app" on host "h1": env DB: from_file DIR/nope.txt: no such file or directory`},
		{"from_file two lines", "    env: {DB: {secret: true, from_file: s.txt}}\n", nil, map[string]string{"s.txt": secret + "\n" + secret + "\n"},
			`env DB: the content of DIR/s.txt contains a control character`},
		{"from_file crlf", "    env: {DB: {secret: true, from_file: s.txt}}\n", nil, map[string]string{"s.txt": secret + "\r\n"},
			`env DB: the content of DIR/s.txt contains a control character`},
		{"from_file large", "    env: {DB: {secret: true, from_file: s.txt}}\n", nil, map[string]string{"s.txt": big},
			`env DB: from_file DIR/s.txt: larger than 65536 bytes, the most omni reads`},
		{"from_file dir", "    env: {DB: {secret: true, from_file: d}}\n", nil, map[string]string{"d/x": ""},
			`env DB: from_file DIR/d: not a regular file`},
		{"source missing", "    files:\n      - {path: /etc/x, source: x.conf}\n", nil, nil,
			`inventory.yaml:8: configuration of service "app" on host "h1": file /etc/x: source DIR/x.conf: no such file or directory`},
		{"source large", "    files: [{path: /etc/x, source: x.conf, secret: true}]\n", nil, map[string]string{"x.conf": big},
			`inventory.yaml:7: configuration of service "app" on host "h1": file /etc/x: source DIR/x.conf: larger than 1048576 bytes, the most omni reads`},
		{"source fifo", "    files: [{path: /etc/x, source: fifo}]\n", nil, map[string]string{"fifo": "FIFO"},
			`file /etc/x: source DIR/fifo: not a regular file`},
		{"source unreadable", "    files: [{path: /etc/x, source: x.conf}]\n", nil, map[string]string{"x.conf": "MODE000"},
			`file /etc/x: source DIR/x.conf: permission denied`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "source unreadable" && os.Geteuid() == 0 {
				// root reads a mode-000 file: make it unreadable by making
				// it a dangling symlink's target directory instead.
				c.files = map[string]string{"x.conf/inner": ""}
				c.want = `file /etc/x: source DIR/x.conf: not a regular file`
			}
			dir := t.TempDir()
			for name, content := range c.files {
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
					t.Fatal(err)
				}
				switch content {
				case "FIFO":
					if err := syscall.Mkfifo(p, 0o600); err != nil {
						t.Fatal(err)
					}
				case "MODE000":
					if err := os.WriteFile(p, []byte(secret), 0); err != nil {
						t.Fatal(err)
					}
				default:
					if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			path := filepath.Join(dir, "inventory.yaml")
			if err := os.WriteFile(path, []byte(head+c.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			inv, err := inventory.Load(path)
			if err != nil {
				t.Fatal(err) // secrets are resolved at render, not at load
			}
			_, err = Render(inv, "h1", "app")
			var re *RenderError
			if !errors.As(err, &re) {
				t.Fatalf("got %T %v, want a *RenderError", err, err)
			}
			want := strings.ReplaceAll(c.want, "DIR", dir)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("got\n%v\nwant\n%s", err, want)
			}
			if !strings.HasPrefix(err.Error(), path+":") || re.Host != "h1" || re.Service != "app" {
				t.Errorf("not at FILE:LINE, host, service: %+v", re)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "xxxx") {
				t.Errorf("the error shows a value: %v", err)
			}
		})
	}
}

// TestRenderExample: the example inventory's declared configuration
// renders without any secret set.
func TestRenderExample(t *testing.T) {
	inv, err := inventory.Load("../../examples/inventory.yaml")
	if err != nil {
		t.Fatal(err)
	}
	set := render(t, inv, "primary-bastion", "api-gateway")
	if len(set.Files) != 2 || set.Files[0].Path != "/etc/omni/env/api-gateway.env" ||
		!strings.HasSuffix(string(set.Files[0].Content), "\nLOG_LEVEL=\"info\"\nROUTES_FILE=\"/etc/api-gateway/routes.yaml\"\n") ||
		!strings.HasSuffix(string(set.Files[1].Content), "\n[Service]\nEnvironmentFile=/etc/omni/env/api-gateway.env\nLimitNOFILE=65536\n") ||
		set.Files[1].Path != "/etc/systemd/system/omni-api-gateway.service.d/50-omni.conf" {
		t.Errorf("example: %+v", set)
	}
}
