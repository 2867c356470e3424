package config

import "testing"

// What is left of a secret where omni cut a host's output is redacted:
// the end of one after a cut mark (a failed hook's output cut at its
// start), the start of one before a cut mark (a log line cut at its end),
// and, for a whole piece of output, the end of one it begins with.
func TestRedactFragmentsAtCuts(t *testing.T) {
	s := &Secrets{values: []string{"s3cret-9f8e7d6c5b4a-TAIL"}}
	for _, c := range []struct{ name, in, want string }{
		{"end after a cut mark", "hook failed: exit status 3: …7d6c5b4a-TAIL000", "hook failed: exit status 3: …<secret>000"},
		{"start before a cut mark", "db: login s3cret-9f8e…", "db: login <secret>…"},
		{"whole value", "token s3cret-9f8e7d6c5b4a-TAIL ok", "token <secret> ok"},
		{"a fragment too short", "x …AIL y", "x …AIL y"},
		{"no cut, no fragment", "5b4a-TAIL is a word here", "5b4a-TAIL is a word here"},
	} {
		if got := s.RedactText(c.in); got != c.want {
			t.Errorf("%s: RedactText(%q) = %q, want %q", c.name, c.in, got, c.want)
		}
	}
	if got, want := s.Redact("5b4a-TAIL and more"), "<secret> and more"; got != want {
		t.Errorf("Redact of an output cut at its start: %q, want %q", got, want)
	}
	if got, want := redact("…9f8e7d6c5b4a-TAIL!", s.values), "…<secret>!"; got != want {
		t.Errorf("redact: %q, want %q", got, want)
	}
}
