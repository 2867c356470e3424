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
// environment, or another file). An output cut at its start may begin
// with the end of a secret: that end is redacted too.
func redact(s string, secrets []string) string {
	for _, v := range secrets {
		s = strings.ReplaceAll(s, v, redacted)
	}
	for _, v := range secrets {
		for i := 1; i <= len(v)-minRedact; i++ {
			if strings.HasPrefix(s, v[i:]) {
				s = redacted + s[len(v)-i:]
				break
			}
		}
	}
	return s
}
