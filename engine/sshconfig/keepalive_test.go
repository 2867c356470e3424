package sshconfig

import (
	"errors"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"0": 0, "15": 15 * time.Second, "30s": 30 * time.Second, "1m30s": 90 * time.Second,
		"1M": time.Minute, "2h": 2 * time.Hour, "1d": 24 * time.Hour, "1w": 7 * 24 * time.Hour, "1m10": 70 * time.Second,
	} {
		if got, err := ParseTime(in); err != nil || got != want {
			t.Errorf("ParseTime(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1x", "s", "1.5s", "9999999999", " 1"} {
		if got, err := ParseTime(in); err == nil {
			t.Errorf("ParseTime(%q) = %s, want an error", in, got)
		}
	}
}

// TestLookupServerAlive: ServerAliveInterval (0 turns keepalives off:
// negative) and ServerAliveCountMax, first match wins.
func TestLookupServerAlive(t *testing.T) {
	c := parse(t, `Host quiet
  ServerAliveInterval 0
  ServerAliveCountMax 0
Host fleet-*
  ServerAliveInterval 1m
Host *
  ServerAliveInterval 15
  ServerAliveCountMax 5
`)
	for alias, want := range map[string][2]int{
		"quiet":   {-1, 1},
		"fleet-a": {60, 5},
		"other":   {15, 5},
	} {
		h, err := c.Lookup(alias)
		if err != nil {
			t.Fatal(err)
		}
		wantInterval := time.Duration(want[0]) * time.Second
		if want[0] < 0 {
			wantInterval = -1
		}
		if h.ServerAliveInterval != wantInterval || h.ServerAliveCountMax != want[1] {
			t.Errorf("%s: interval %s, count max %d; want %ds, %d", alias, h.ServerAliveInterval, h.ServerAliveCountMax, want[0], want[1])
		}
	}
	unset, _ := parse(t, "Host x\n  User u\n").Lookup("a")
	if unset.ServerAliveInterval != 0 || unset.ServerAliveCountMax != 0 {
		t.Errorf("unset: %+v", unset)
	}

	for config, want := range map[string]string{
		"Host a\n  ServerAliveInterval 10q\n":  `ssh_config:2: ServerAliveInterval "10q": not a time: use seconds (15) or a number and a unit (30s, 1m, 1h)`,
		"\nHost *\n  ServerAliveCountMax -1\n": `ssh_config:3: ServerAliveCountMax "-1" is not a count (0 or more)`,
	} {
		_, err := parse(t, config).Lookup("a")
		var cfgErr *Error
		if !errors.As(err, &cfgErr) || err.Error() != want {
			t.Errorf("%q: error %v, want %s", config, err, want)
		}
	}
}
