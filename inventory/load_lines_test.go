package inventory

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Each error names the line it is about, and the report is the same from
// run to run.

// loadString writes content to a fresh inventory.yaml (with a known_hosts
// beside it, so no home directory is needed) and loads it.
func loadString(t *testing.T, content string) (string, *Inventory, error) {
	t.Helper()
	t.Setenv("USER", "omni")
	dir := t.TempDir()
	path := filepath.Join(dir, "inventory.yaml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	inv, err := Load(path)
	return path, inv, err
}

// problems returns the problems in err (nil when err is not an ErrorList).
func problems(err error) ErrorList {
	var list ErrorList
	if !errors.As(err, &list) {
		return nil
	}
	return list
}

// linesOf lists the lines a report names.
func linesOf(list ErrorList) map[int]bool {
	lines := map[int]bool{}
	for _, e := range list {
		lines[e.Line] = true
	}
	return lines
}

// TestSyntaxErrorNamesTheLine: an operator forgets a closing bracket (the
// list opened on line 7, after blank lines), or breaks an indentation on
// line 5 under a mapping that starts on line 3. The error names the line
// where the broken list or mapping starts. yaml.v3 counts the line of a
// parser error from 0 (a scanner error's from 1), and the loader took it as
// it was: the blank line 6, or line 2, above the mapping (found by review).
// Scanner errors keep their (right) line.
func TestSyntaxErrorNamesTheLine(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
		want    int
	}{
		{"unclosed flow list", "version: 1\nroles:\n  web: []\n\n\n\nhosts: [a, b\n", 7},
		{"unclosed flow mapping", "version: 1\nhosts:\n  w1: {address: 10.0.0.1, roles: [web}\nroles:\n  web: []\n", 3},
		{"bad indentation", "version: 1\nhosts:\n  w1:\n    address: 10.0.0.1\n   roles: [web]\nroles:\n  web: []\n", 3},
		{"unclosed flow list on the last line", "version: 1\nroles: [a", 2},
		{"scanner: tab", "version: 1\nhosts:\n  w1:\n\taddress: 10.0.0.1\n", 4},
		{"scanner: mapping value", "version: 1\nhosts:\n  w1: address: 10.0.0.1\n", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := loadString(t, tc.content)
			list := problems(err)
			if len(list) != 1 {
				t.Fatalf("want one problem, got: %v", err)
			}
			if list[0].Line != tc.want || !strings.Contains(list[0].Msg, "invalid YAML: ") {
				t.Errorf("got %q, want invalid YAML at line %d", list[0].Error(), tc.want)
			}
		})
	}
}

// TestInvalidUTF8NamesTheLine: an operator pastes a value with a byte that
// is not UTF-8 (a Latin-1 "é" from an old file) on line 7. The error names
// line 7 and the byte; it said line 1, whatever the line, since yaml.v3
// gives none for this error (found by review).
func TestInvalidUTF8NamesTheLine(t *testing.T) {
	path, _, err := loadString(t, "version: 1\n"+
		"hosts:\n"+
		"  w1: {address: 10.0.0.1, roles: [web]}\n"+
		"roles:\n"+
		"  web: [a]\n"+
		"services:\n"+
		"  a: {manager: command, impact: \"caf\xe9\", commands: {start: \"true\", status: \"true\"}}\n")
	list := problems(err)
	if len(list) == 0 {
		t.Fatalf("invalid UTF-8 accepted or not an ErrorList: %v", err)
	}
	if list[0].Line != 7 || !strings.Contains(list[0].Msg, "byte 0xe9 at column 37 is not UTF-8") {
		t.Errorf("got %q, want it at %s:7, naming the byte 0xe9 and its column", list[0].Error(), path)
	}
}

// TestAliasedListItemAtItsLine: an operator uses an anchor for a role name
// (or a requirement) and aliases it on another host:
//
//	3:  w1: {address: 10.0.0.1, roles: [&r webb]}
//	5:  w3: {address: 10.0.0.3, roles: [*r]}
//
// The mistake is reported where each use is: line 3 for w1 and line 5 for
// w3 (and 9 and 10 for the requirement). Both were reported at the
// anchor's line, twice, nothing at the alias's (found by review).
func TestAliasedListItemAtItsLine(t *testing.T) {
	_, _, err := loadString(t, `version: 1
hosts:
  w1: {address: 10.0.0.1, roles: [&r webb]}
  w2: {address: 10.0.0.2, roles: [web]}
  w3: {address: 10.0.0.3, roles: [*r]}
roles:
  web: [a]
services:
  a: {manager: command, commands: {start: "true", status: "true"}, requires: [&d zz]}
  b: {manager: command, commands: {start: "true", status: "true"}, requires: [*d]}
`)
	list := problems(err)
	if len(list) == 0 {
		t.Fatalf("no ErrorList: %v", err)
	}
	lines := linesOf(list)
	for _, want := range []int{3, 5, 9, 10} {
		if !lines[want] {
			t.Errorf("no error at line %d; got:\n%v", want, err)
		}
	}
}

// TestDocumentMarkerOnlyIsEmpty: an inventory file that holds only the
// document marker "---", e.g. a template committed before it was filled
// in. It is "inventory is empty" at the line of the "---", as an empty
// file is at line 1; it was reported past the last line of the file, where
// yaml.v3 puts the empty document's null (found by review).
func TestDocumentMarkerOnlyIsEmpty(t *testing.T) {
	for _, tc := range []struct {
		content string
		want    int
	}{
		{"---\n", 1},
		{"---", 1},
		{"# template\n---\n", 2},
		{"# template\n--- # to fill in\n", 2},
	} {
		_, _, err := loadString(t, tc.content)
		list := problems(err)
		if len(list) != 1 {
			t.Fatalf("%q: want one problem, got: %v", tc.content, err)
		}
		if list[0].Line != tc.want || list[0].Msg != "inventory is empty" {
			t.Errorf("%q: got %q, want line %d: inventory is empty", tc.content, list[0].Error(), tc.want)
		}
	}
}

// TestHostConfigErrorsInStableOrder: an operator writes a host's config
// overrides in flow style on one line, naming services that do not exist:
// `config: {aa: {env: {A: b}}, bb: ..., cc: ..., dd: ..., ee: ...}`. The
// report is the same every run, by line, then name; the five errors of
// line 3 came out in map order, different from run to run (found by
// review).
func TestHostConfigErrorsInStableOrder(t *testing.T) {
	content := `version: 1
hosts:
  w1: {address: 10.0.0.1, roles: [web], config: {ee: {env: {A: b}}, bb: {env: {A: b}}, cc: {env: {A: b}}, dd: {env: {A: b}}, aa: {env: {A: b}}}}
roles:
  web: [a]
services:
  a: {manager: command, commands: {start: "true", status: "true"}}
`
	t.Setenv("USER", "omni")
	seen := map[string]bool{}
	for i := 0; i < 30; i++ {
		_, err := Parse("inventory.yaml", []byte(content))
		if err == nil {
			t.Fatal("no error")
		}
		seen[err.Error()] = true
	}
	if len(seen) > 1 {
		var outs []string
		for s := range seen {
			outs = append(outs, s)
		}
		t.Fatalf("30 loads of one file gave %d different reports, e.g.:\n%s\n--- and ---\n%s", len(seen), outs[0], outs[1])
	}
	_, err := Parse("inventory.yaml", []byte(content))
	var names []string
	for _, e := range problems(err) {
		names = append(names, strings.Fields(e.Msg)[5])
	}
	if got, want := strings.Join(names, " "), `"aa" "bb" "cc" "dd" "ee"`; got != want {
		t.Errorf("services in the order %s, want %s:\n%v", got, want, err)
	}
}
