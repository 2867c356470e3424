package registry

import (
	"errors"
	"sync"
)

// heldLocks is the set of locks a store handle holds, so that Close can
// release what its callers did not.
type heldLocks[L interface {
	comparable
	unlock() error
}] struct {
	mu  sync.Mutex
	set map[L]struct{}
}

func (h *heldLocks[L]) add(l L) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.set == nil {
		h.set = map[L]struct{}{}
	}
	h.set[l] = struct{}{}
}

// any says whether a lock is held.
func (h *heldLocks[L]) any() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.set) > 0
}

func (h *heldLocks[L]) remove(l L) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.set, l)
}

// unlockAll releases every lock still held, outside the set's mutex (each
// unlock removes itself).
func (h *heldLocks[L]) unlockAll() error {
	h.mu.Lock()
	locks := make([]L, 0, len(h.set))
	for l := range h.set {
		locks = append(locks, l)
	}
	h.mu.Unlock()
	var errs []error
	for _, l := range locks {
		errs = append(errs, l.unlock())
	}
	return errors.Join(errs...)
}
