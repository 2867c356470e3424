package inventory

import (
	"strings"
	"testing"
)

// Values the loader refuses, FILE:LINE, before any connection: each was
// accepted and then did the wrong thing.

// TestHostNamedAllRefused: an operator names a host `all` (and, as
// examples/inventory.yaml allows, does not define the role `all` in
// `roles:`). `all` is the role every host has, and the target `all` means
// every host: the name is refused at its line. It was accepted, and
// `Select("all")` (so `omni service restart all SVC`, and `svc@all` in
// requires) then meant that one host, not the fleet (found by review).
func TestHostNamedAllRefused(t *testing.T) {
	for _, roles := range []string{"  web: [a]\n", "  web: [a]\n  all: [a]\n"} {
		_, inv, err := loadString(t, `version: 1
hosts:
  all: {address: 10.0.0.1, roles: [web]}
  w1: {address: 10.0.0.2, roles: [web]}
roles:
`+roles+`services:
  a: {manager: command, commands: {start: "true", status: "true"}}
`)
		if err == nil {
			hosts, _ := inv.Select("all")
			t.Fatalf("a host named \"all\" was accepted; target \"all\" selects %d hosts", len(hosts))
		}
		list := problems(err)
		if len(list) != 1 || list[0].Line != 3 || !strings.Contains(list[0].Msg, `a host cannot be named "all"`) {
			t.Errorf("with roles:\n%sgot:\n%v\nwant one error at line 3: a host cannot be named \"all\"", roles, err)
		}
	}
}

// TestDuplicateKeyInInlineMerge: an operator writes a merge whose source is
// written inline (not an anchor defined elsewhere), with a key twice, e.g.
// after a bad rebase:
//
//	w1:
//	  <<: {address: 10.0.0.1, address: 10.0.0.9}
//
// It is a duplicate key at its line, as at every other level. It loaded,
// w1's address silently the first (found by review). A mapping written
// once and merged through aliases is reported once.
func TestDuplicateKeyInInlineMerge(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
		want    []int
	}{
		{"mapping", `version: 1
hosts:
  w1:
    <<: {address: 10.0.0.1, address: 10.0.0.9}
    roles: [web]
roles:
  web: [a]
services:
  a: {manager: command, commands: {start: "true", status: "true"}}
`, []int{4}},
		{"item of a list, anchored and merged again", `version: 1
hosts:
  w1: {<<: [&p {port: 22, port: 2222}], address: 10.0.0.1, roles: [web]}
  w2: {<<: [*p], address: 10.0.0.2, roles: [web]}
  w3: {<<: *p, address: 10.0.0.3, roles: [web]}
roles:
  web: [a]
services:
  a: {manager: command, commands: {start: "true", status: "true"}}
`, []int{3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := loadString(t, tc.content)
			list := problems(err)
			if len(list) != len(tc.want) {
				t.Fatalf("got:\n%v\nwant %d duplicate key errors", err, len(tc.want))
			}
			for i, e := range list {
				if e.Line != tc.want[i] || !strings.Contains(e.Msg, "duplicate key") {
					t.Errorf("got %q, want a duplicate key at line %d", e.Error(), tc.want[i])
				}
			}
		})
	}
}

// TestReachAddressValidated: an operator writes a requires entry as a
// mapping with an address, and includes the port, or pastes something that
// is not an address. It is refused at its line, as a host's `address` and
// `service_address` are. It was accepted (only spaces were refused), and
// gave a required reach check that could never pass, found only after a
// restart had bounced the service (found by review).
func TestReachAddressValidated(t *testing.T) {
	for _, addr := range []string{"10.0.0.2:5432", "-oProxyCommand=x", "http://10.0.0.2/", "a,b", "a b"} {
		t.Run(addr, func(t *testing.T) {
			_, _, err := loadString(t, `version: 1
hosts:
  w1: {address: 10.0.0.1, roles: [web]}
  w2: {address: 10.0.0.2, roles: [db]}
roles:
  web: [a]
  db: [b]
services:
  a:
    manager: command
    commands: {start: "true", status: "true"}
    requires:
      - {service: b@w2, address: "`+addr+`", reach: required}
  b: {manager: command, commands: {start: "true", status: "true"}, health: {port: 5432}}
`)
			list := problems(err)
			if len(list) != 1 || list[0].Line != 13 || !strings.HasPrefix(list[0].Msg, "invalid address in requires entry") {
				t.Errorf("got:\n%v\nwant inventory.yaml:13: invalid address in requires entry ...", err)
			}
		})
	}
}

// TestHTTPPathValidated: an operator writes a health URL path with a
// typo'd percent escape, a space, or a line break (a YAML "\n", a CRLF
// paste). It is refused at its line. It was accepted (only the leading "/"
// was checked), and each health GET then failed in net/http after a start
// or restart had already stopped and started the service (found by
// review). Paths with a query or valid escapes still load.
func TestHTTPPathValidated(t *testing.T) {
	load := func(t *testing.T, p string) error {
		_, _, err := loadString(t, `version: 1
hosts:
  w1: {address: 10.0.0.1, roles: [web]}
roles:
  web: [a]
services:
  a:
    manager: command
    commands: {start: "true", status: "true"}
    health:
      http: {port: 80, path: "`+p+`"}
`)
		return err
	}
	for _, p := range []string{`/health%zz`, `/health\r\nX-Evil: 1`, `/a\tb`, `/a b`, `/a#b`, `health`} {
		t.Run(p, func(t *testing.T) {
			err := load(t, p)
			list := problems(err)
			if len(list) != 1 || list[0].Line != 11 || !strings.HasPrefix(list[0].Msg, "invalid path in http check") {
				t.Errorf("got:\n%v\nwant inventory.yaml:11: invalid path in http check ...", err)
			}
		})
	}
	for _, p := range []string{`/`, `/healthz?full=1`, `/a%20b`, `/v1/health/café`} {
		if err := load(t, p); err != nil {
			t.Errorf("path %q refused: %v", p, err)
		}
	}
}

// TestIntegersAreDecimal: an operator pads a port with a zero (`port:
// 02222`), or writes it in hex. yaml.v3 reads 02222 as octal (YAML 1.1:
// 1170; YAML 1.2 would say 2222), and the loader took it: the host's SSH
// port was silently 1170, `0x1F90` 8080 (found by review). Every integer
// is plain decimal, and anything else is refused at its line saying what
// to write; 0 is still 0 where 0 is allowed.
func TestIntegersAreDecimal(t *testing.T) {
	for _, tc := range []struct {
		value, want string
	}{
		{"02222", "port in host \"w1\": 02222 has a leading zero, which YAML 1.1 reads as octal and YAML 1.2 as decimal: write 2222, in decimal without a leading zero"},
		{"0x1F90", "port in host \"w1\": 0x1F90 is not plain decimal (0x, 0o, 0b and _ are refused): write 8080"},
		{"0o17", "write 15"},
		{"0b101", "write 5"},
		{"2_222", "write 2222"},
		{"089", "write 89, in decimal without a leading zero"},
	} {
		_, _, err := loadString(t, `version: 1
hosts:
  w1: {address: 10.0.0.1, port: `+tc.value+`, roles: [web]}
roles:
  web: [a]
services:
  a: {manager: command, commands: {start: "true", status: "true"}}
`)
		list := problems(err)
		if len(list) != 1 || list[0].Line != 3 || !strings.Contains(list[0].Msg, tc.want) {
			t.Errorf("port: %s: got:\n%v\nwant inventory.yaml:3: ...%s", tc.value, err, tc.want)
		}
	}
	_, inv, err := loadString(t, `version: 1
hosts:
  w1: {address: 10.0.0.1, port: 2222, roles: [web]}
roles:
  web: [a]
services:
  a: {manager: command, commands: {start: "true", status: "true"}, health: {port: 80, retries: 0}}
`)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := inv.Host("w1"); h.Port != 2222 || inv.Services[0].Health.Retries != 0 {
		t.Errorf("port %d, retries %d; want 2222 and 0", h.Port, inv.Services[0].Health.Retries)
	}
}

// TestTopLevelSectionsOptional: `hosts`, `roles` and `services` may be left
// out; docs/inventory.md said they were required, the loader never did
// (found by review: the docs now say what the code does). An inventory of
// only `version: 1` is valid, with nothing in it.
func TestTopLevelSectionsOptional(t *testing.T) {
	_, inv, err := loadString(t, "version: 1\n")
	if err != nil {
		t.Fatalf("an inventory of only \"version: 1\": %v", err)
	}
	if len(inv.Hosts)+len(inv.Roles)+len(inv.Services) != 0 {
		t.Errorf("%d hosts, %d roles, %d services; want none", len(inv.Hosts), len(inv.Roles), len(inv.Services))
	}
}
