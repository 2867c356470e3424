package cli

import (
	"context"
	"strings"
)

// words is an error's text for a person: Go's raw context errors, which
// libraries pass up as they are, are said in words ("context canceled"
// is "interrupted", "context deadline exceeded" is "timed out"). The
// error itself is unchanged: exit codes still come from its type.
func words(err error) string {
	if err == nil {
		return ""
	}
	msg := strings.NewReplacer(
		context.Canceled.Error(), "interrupted",
		context.DeadlineExceeded.Error(), "timed out",
	).Replace(err.Error())
	for _, twice := range []string{"interrupted: interrupted", "timed out: timed out"} {
		msg = strings.ReplaceAll(msg, twice, twice[:strings.Index(twice, ":")])
	}
	return msg
}
