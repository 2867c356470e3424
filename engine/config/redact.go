package config

import (
	"sort"
	"strings"
)

// minRedact is the shortest secret value redacted from a remote output:
// shorter ones would blank out ordinary words; their risk is theirs.
const minRedact = 4

// redacted is what stands for a secret value in a remote output.
const redacted = "<secret>"

// secretValues are the secret values among files: each secret key's value
// of an environment file, and each line of a secret file (and the whole
// of it), longest first, so that a value containing another is redacted
// whole.
func secretValues(files []File) []string {
	seen := map[string]bool{}
	var out []string
	add := func(v string) {
		v = strings.TrimSpace(v)
		if len(v) >= minRedact && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	for _, f := range files {
		switch {
		case f.Secret:
			add(string(f.Content))
			for _, line := range strings.Split(string(f.Content), "\n") {
				add(line)
			}
		case len(f.SecretKeys) > 0:
			secret := map[string]bool{}
			for _, k := range f.SecretKeys {
				secret[k] = true
			}
			entries, _ := ParseEnv(f.Content)
			for _, e := range entries {
				if secret[e.Key] {
					add(e.Value)
					// As the file has it (a validator may print the line).
					q := EnvQuote(e.Value)
					add(q[1 : len(q)-1])
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// redact removes every secret value from a remote output that is about to
// be shown (a validator's, or a command's error): a validator of a file
// that holds no secret can still print one (it reads the service's
// environment, or another file). What is left of a secret where the output
// was cut is redacted too (redactFragments).
func redact(s string, secrets []string) string {
	for _, v := range secrets {
		s = strings.ReplaceAll(s, v, redacted)
	}
	return redactFragments(s, secrets, true)
}

// CutMark is how omni marks where it cut a host's output: before what is
// left of an output cut at its start, after a line cut at its end.
const CutMark = "…"

// redactFragments replaces what is left of a secret value where text was
// cut: the end of a value right after a CutMark, and the start of one
// right before it; with cutStart, also the end of a value text begins with
// (a whole output cut at its start without a mark). Whole values are the
// caller's to replace first; a fragment shorter than minRedact is left, as
// a value that short would be.
func redactFragments(text string, values []string, cutStart bool) string {
	// suffix is the length of the longest end of a value text begins with.
	suffix := func(text string) int {
		for _, v := range values {
			for i := 1; i <= len(v)-minRedact; i++ {
				if strings.HasPrefix(text, v[i:]) {
					return len(v) - i
				}
			}
		}
		return 0
	}
	// prefix is the length of the longest start of a value text ends with.
	prefix := func(text string) int {
		for _, v := range values {
			for k := len(v) - 1; k >= minRedact; k-- {
				if strings.HasSuffix(text, v[:k]) {
					return k
				}
			}
		}
		return 0
	}
	if n := suffix(text); cutStart && n > 0 {
		text = redacted + text[n:]
	}
	var b strings.Builder
	for {
		i := strings.Index(text, CutMark)
		if i < 0 {
			b.WriteString(text)
			return b.String()
		}
		before, after := text[:i], text[i+len(CutMark):]
		if n := prefix(before); n > 0 {
			before = before[:len(before)-n] + redacted
		}
		if n := suffix(after); n > 0 {
			after = redacted + after[n:]
		}
		b.WriteString(before)
		b.WriteString(CutMark)
		if strings.HasPrefix(after, redacted) {
			b.WriteString(redacted)
			after = after[len(redacted):]
		}
		text = after
	}
}
