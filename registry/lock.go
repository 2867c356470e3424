package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"time"
)

// lockRetry is how often a Lock that waits tries again.
const lockRetry = 100 * time.Millisecond

// lockEntry is what a store keeps under each locked key.
type lockEntry struct {
	Owner     Owner     `json:"owner"`
	Heartbeat time.Time `json:"heartbeat"`
	// Token tells apart two Lock calls of the same owner: unlock deletes
	// only the keys that still carry its token.
	Token string `json:"token"`
	// ProcStart is the holder's process start time (clock ticks since
	// boot) when it runs on this machine, so that a reused PID does not
	// pass for the holder. bbolt only.
	ProcStart uint64 `json:"proc_start,omitempty"`
}

// lockKeys is keys without duplicates or empty keys, sorted.
func lockKeys(keys []string) []string {
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if k != "" {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// fillOwner completes o with this process: its PID, this machine, now.
func fillOwner(o Owner, machine string) Owner {
	if o.PID == 0 {
		o.PID = os.Getpid()
	}
	if o.Machine == "" {
		o.Machine = machine
	}
	if o.Since.IsZero() {
		o.Since = time.Now()
	}
	return o
}

// thisMachine is the name owners on this machine carry.
func thisMachine() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "localhost"
}

func newToken() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// retryLock calls try until it takes the locks (nil, nil), fails (err), or
// wait has elapsed or ctx has ended while another run holds them. It tries
// at once and then every lockRetry. When the wait elapses the error is the
// *LockedError of the last try; when ctx ends it wraps both that and
// ctx.Err().
func retryLock(ctx context.Context, wait time.Duration, try func() (*LockedError, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	deadline := time.Now().Add(wait)
	var last *LockedError
	for {
		held, err := try()
		if err != nil && ctx.Err() != nil && last != nil {
			// Interrupted in the middle of a try, while waiting.
			return fmt.Errorf("%w (stopped waiting: %w)", last, ctx.Err())
		}
		if err != nil {
			return err
		}
		if held == nil {
			return nil
		}
		last = held
		left := time.Until(deadline)
		if left <= 0 {
			return held
		}
		t := time.NewTimer(min(lockRetry, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (stopped waiting: %w)", held, ctx.Err())
		case <-t.C:
		}
	}
}
