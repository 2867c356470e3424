package sshconfig

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Jump is one hop of a ProxyJump list: [user@]host[:port], where host is
// itself looked up in the configuration. User and Port, when given, win
// over the hop's own configuration, as they do on ssh's command line.
type Jump struct {
	User string // "" when not given
	Host string
	Port int // 0 when not given
}

// String writes the hop as in a ProxyJump list.
func (j Jump) String() string {
	s := j.Host
	if j.Port != 0 {
		s = net.JoinHostPort(j.Host, strconv.Itoa(j.Port))
	} else if strings.Contains(s, ":") {
		s = "[" + s + "]"
	}
	if j.User != "" {
		s = j.User + "@" + s
	}
	return s
}

// ParseProxyJump parses a ProxyJump value: "none" (nil), or a
// comma-separated list of [user@]host[:port] or ssh://[user@]host[:port],
// IPv6 addresses in brackets.
func ParseProxyJump(value string) ([]Jump, error) {
	value = strings.TrimSpace(value)
	if strings.EqualFold(value, "none") {
		return nil, nil
	}
	var jumps []Jump
	for _, hop := range strings.Split(value, ",") {
		j, err := parseJump(strings.TrimSpace(hop))
		if err != nil {
			return nil, err
		}
		jumps = append(jumps, j)
	}
	return jumps, nil
}

func parseJump(s string) (Jump, error) {
	var j Jump
	if s == "" {
		return j, errors.New("empty hop")
	}
	rest := s
	if len(rest) >= 6 && strings.EqualFold(rest[:6], "ssh://") {
		rest = strings.TrimSuffix(rest[6:], "/")
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		j.User, rest = rest[:at], rest[at+1:]
		if j.User == "" {
			return j, fmt.Errorf("hop %q: empty user before @", s)
		}
	}
	port := ""
	switch {
	case strings.HasPrefix(rest, "["):
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return j, fmt.Errorf("hop %q: missing ]", s)
		}
		j.Host, rest = rest[1:end], rest[end+1:]
		if rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return j, fmt.Errorf("hop %q: unexpected %q after ]", s, rest)
			}
			port = rest[1:]
		}
	case strings.Count(rest, ":") > 1:
		return j, fmt.Errorf("hop %q: write an IPv6 address in brackets: [ADDRESS]:PORT", s)
	default:
		j.Host, port, _ = strings.Cut(rest, ":")
		if strings.Contains(rest, ":") && port == "" {
			return j, fmt.Errorf("hop %q: empty port after :", s)
		}
	}
	if j.Host == "" {
		return j, fmt.Errorf("hop %q: no host", s)
	}
	if strings.ContainsAny(j.Host, " \t/") {
		return j, fmt.Errorf("hop %q: invalid host %q", s, j.Host)
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return j, fmt.Errorf("hop %q: %q is not a port number (1-65535)", s, port)
		}
		j.Port = n
	}
	return j, nil
}
