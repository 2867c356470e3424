package sshconfig

import (
	"errors"
	"math"
	"time"
)

// ParseTime reads a time value as OpenSSH does (sshd_config(5), TIME
// FORMATS): a number of seconds, or numbers each followed by a unit, s, m,
// h, d or w (either case), added up: "15", "30s", "1m30s", "1h".
func ParseTime(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("empty")
	}
	var total time.Duration
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 || i > 9 {
			return 0, errors.New("not a time: use seconds (15) or a number and a unit (30s, 1m, 1h)")
		}
		n := time.Duration(0)
		for _, c := range s[:i] {
			n = n*10 + time.Duration(c-'0')
		}
		unit := time.Second
		if i < len(s) {
			switch s[i] {
			case 's', 'S':
			case 'm', 'M':
				unit = time.Minute
			case 'h', 'H':
				unit = time.Hour
			case 'd', 'D':
				unit = 24 * time.Hour
			case 'w', 'W':
				unit = 7 * 24 * time.Hour
			default:
				return 0, errors.New("not a time: use seconds (15) or a number and a unit (30s, 1m, 1h)")
			}
			i++
		}
		if n > (math.MaxInt64-total)/unit {
			return 0, errors.New("too long")
		}
		total += n * unit
		s = s[i:]
	}
	return total, nil
}
