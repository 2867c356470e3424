package sshconfig

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// Tokens are the values of the %-tokens of one connection.
type Tokens struct {
	Alias      string // %n: the host name as given, before HostName
	Host       string // %h (and %k): the host name connected to, after HostName
	Port       int    // %p
	RemoteUser string // %r
	LocalUser  string // %u
	Home       string // %d, and ~: the local user's home directory
}

// ExpandPath expands a file name as ssh does for IdentityFile and
// UserKnownHostsFile: a leading ~ (Tokens.Home) or ~user, then the tokens
// %% %h %p %r %u %d %n %k %i %l %L and ${VAR} environment variables. An
// unknown token or an unset variable is an error. A relative result stays
// relative (to the working directory, as for ssh).
func ExpandPath(path string, t Tokens) (string, error) {
	path, err := expandTilde(path, t.Home)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		ch := path[i]
		switch {
		case ch == '%':
			if i+1 == len(path) {
				return "", errors.New("a lone % at the end (write %% for a %)")
			}
			i++
			v, err := t.token(path[i])
			if err != nil {
				return "", err
			}
			b.WriteString(v)
		case ch == '$' && i+1 < len(path) && path[i+1] == '{':
			end := strings.IndexByte(path[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("unterminated ${ in %q", path)
			}
			name := path[i+2 : i+end]
			v, ok := os.LookupEnv(name)
			if name == "" || !ok {
				return "", fmt.Errorf("environment variable ${%s} is not set", name)
			}
			b.WriteString(v)
			i += end
		default:
			b.WriteByte(ch)
		}
	}
	return b.String(), nil
}

func (t Tokens) token(c byte) (string, error) {
	switch c {
	case '%':
		return "%", nil
	case 'h', 'k': // %k is HostKeyAlias, which omni ignores, or the host
		return t.Host, nil
	case 'n':
		return t.Alias, nil
	case 'p':
		return strconv.Itoa(t.Port), nil
	case 'r':
		return t.RemoteUser, nil
	case 'u':
		return t.LocalUser, nil
	case 'd':
		if t.Home == "" {
			return "", errors.New("%d: the home directory is unknown")
		}
		return t.Home, nil
	case 'i':
		return strconv.Itoa(os.Getuid()), nil
	case 'l', 'L':
		name, err := os.Hostname()
		if err != nil {
			return "", fmt.Errorf("%%%c: %w", c, err)
		}
		if c == 'L' {
			name, _, _ = strings.Cut(name, ".")
		}
		return name, nil
	default:
		return "", fmt.Errorf("token %%%c is not supported (supported: %%%% %%h %%p %%r %%u %%d %%n %%k %%i %%l %%L)", c)
	}
}

// expandTilde expands a leading ~ (home) or ~user.
func expandTilde(path, home string) (string, error) {
	if !strings.HasPrefix(path, "~") {
		return path, nil
	}
	name, rest, _ := strings.Cut(path[1:], "/")
	dir := home
	if name != "" {
		u, err := user.Lookup(name)
		if err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
		dir = u.HomeDir
	} else if dir == "" {
		return "", fmt.Errorf("%s: the home directory is unknown", path)
	}
	return filepath.Join(dir, rest), nil
}

// expandHostName expands the tokens HostName allows: %h (the alias) and %%.
func expandHostName(v, alias string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '%' {
			b.WriteByte(v[i])
			continue
		}
		if i+1 == len(v) {
			return "", errors.New("a lone % at the end (write %% for a %)")
		}
		i++
		switch v[i] {
		case '%':
			b.WriteByte('%')
		case 'h':
			b.WriteString(alias)
		default:
			return "", fmt.Errorf("token %%%c is not allowed in HostName (only %%h and %%%%)", v[i])
		}
	}
	return b.String(), nil
}
