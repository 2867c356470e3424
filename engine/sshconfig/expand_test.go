package sshconfig

import (
	"os"
	"reflect"
	"strconv"
	"testing"
)

func TestExpandPath(t *testing.T) {
	t.Setenv("OMNI_TEST_KEYS", "/vault/keys")
	tokens := Tokens{Alias: "fleet-a", Host: "10.0.3.1", Port: 2201, RemoteUser: "deploy", LocalUser: "alice", Home: "/home/alice"}
	for _, tc := range []struct{ in, want, err string }{
		{in: "~/.ssh/id_ed25519", want: "/home/alice/.ssh/id_ed25519"},
		{in: "~", want: "/home/alice"},
		{in: "%d/.ssh/%r@%h:%p", want: "/home/alice/.ssh/deploy@10.0.3.1:2201"},
		{in: "/keys/%u/%n-%k", want: "/keys/alice/fleet-a-10.0.3.1"},
		{in: "/keys/100%%/%i", want: "/keys/100%/" + strconv.Itoa(os.Getuid())},
		{in: "${OMNI_TEST_KEYS}/%r", want: "/vault/keys/deploy"},
		{in: "/a$b/c", want: "/a$b/c"},
		{in: "relative/key", want: "relative/key"},
		{in: "/keys/%C", err: "token %C is not supported (supported: %% %h %p %r %u %d %n %k %i %l %L)"},
		{in: "/keys/50%", err: "a lone % at the end (write %% for a %)"},
		{in: "${OMNI_TEST_UNSET_VARIABLE}/k", err: "environment variable ${OMNI_TEST_UNSET_VARIABLE} is not set"},
		{in: "${OMNI_TEST_KEYS", err: `unterminated ${ in "${OMNI_TEST_KEYS"`},
	} {
		got, err := ExpandPath(tc.in, tokens)
		switch {
		case tc.err != "" && (err == nil || err.Error() != tc.err):
			t.Errorf("ExpandPath(%q) = %q, %v; want error %q", tc.in, got, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("ExpandPath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := ExpandPath("~/x", Tokens{}); err == nil {
		t.Error("~ with no home directory: no error")
	}
}

func TestParseProxyJump(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []Jump
		err  string
	}{
		{in: "none"},
		{in: "NONE"},
		{in: "jump", want: []Jump{{Host: "jump"}}},
		{in: "admin@jump:2222, inner ,ssh://root@10.0.0.5:22/",
			want: []Jump{{User: "admin", Host: "jump", Port: 2222}, {Host: "inner"}, {User: "root", Host: "10.0.0.5", Port: 22}}},
		{in: "[::1]:2200,u@[fe80::1]", want: []Jump{{Host: "::1", Port: 2200}, {User: "u", Host: "fe80::1"}}},
		{in: "a@b@host", want: []Jump{{User: "a@b", Host: "host"}}},
		{in: "j1,", err: "empty hop"},
		{in: "@host", err: `hop "@host": empty user before @`},
		{in: "host:", err: `hop "host:": empty port after :`},
		{in: "host:99999", err: `hop "host:99999": "99999" is not a port number (1-65535)`},
		{in: "::1", err: `hop "::1": write an IPv6 address in brackets: [ADDRESS]:PORT`},
		{in: "[::1", err: `hop "[::1": missing ]`},
		{in: "u@", err: `hop "u@": no host`},
	} {
		got, err := ParseProxyJump(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ParseProxyJump(%q) = %v, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseProxyJump(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for j, want := range map[Jump]string{
		{Host: "h"}:                        "h",
		{User: "u", Host: "h", Port: 2222}: "u@h:2222",
		{Host: "::1", Port: 22}:            "[::1]:22",
		{Host: "::1"}:                      "[::1]",
	} {
		if got := j.String(); got != want {
			t.Errorf("%+v.String() = %q, want %q", j, got, want)
		}
	}
}
