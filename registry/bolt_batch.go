package registry

import (
	"context"
	"errors"

	bolt "go.etcd.io/bbolt"
)

// write is one write waiting for its turn on the file.
type write struct {
	ctx  context.Context // ends its wait for the file
	fn   func(*bolt.Tx) error
	err  error
	done chan struct{} // closed once err is set
}

// errFnFailed marks a batch that one of its writes rolled back.
var errFnFailed = errors.New("a write of the batch failed")

// update runs fn in a write transaction. Writes that queue up while
// another one holds the file are committed together by the next writer to
// get its turn: one open, one fsync, for the writes of a fleet's hosts
// that finish at the same moment, instead of one each. Each write still
// sees the ones before it and is all or nothing: when one returns an
// error, the batch is rolled back and its writes are run again one
// transaction each, so that only the failing one fails. fn may therefore
// run more than once, and must only change the transaction or variables
// it sets afresh on each run. The wait for the file ends with ctx.
func (b *Bolt) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	w := &write{ctx: ctx, fn: fn, done: make(chan struct{})}
	f := b.file
	f.queueMu.Lock()
	f.queue = append(f.queue, w)
	f.queueMu.Unlock()

	f.mu.Lock()
	f.queueMu.Lock()
	batch := f.queue
	f.queue = nil
	f.queueMu.Unlock()
	// An empty batch: an earlier writer took w with its own.
	if len(batch) > 0 {
		b.commit(batch)
	}
	f.mu.Unlock()
	<-w.done
	return w.err
}

// commit runs batch in one transaction, or each write alone when one of
// them fails. The caller holds b.file.mu.
func (b *Bolt) commit(batch []*write) {
	defer func() {
		for _, w := range batch {
			close(w.done)
		}
	}()
	if len(batch) == 1 {
		batch[0].err = b.open(batch[0].ctx, true, batch[0].fn)
		return
	}
	err := b.open(batchCtx(batch), true, func(tx *bolt.Tx) error {
		for _, w := range batch {
			if w.err = w.fn(tx); w.err != nil {
				return errFnFailed
			}
		}
		return nil
	})
	switch {
	case err == nil:
		return
	case errors.Is(err, errFnFailed):
		for _, w := range batch {
			w.err = b.open(w.ctx, true, w.fn)
		}
	default: // the file could not be opened or committed: every write failed
		for _, w := range batch {
			w.err = err
		}
	}
}

// batchCtx is what ends the wait of a batch for the file: its writes'
// context when they share it (they come from one handle), else none, so
// that the interrupt of one command does not cut short another's write.
func batchCtx(batch []*write) context.Context {
	ctx := batch[0].ctx
	for _, w := range batch[1:] {
		if w.ctx.Done() != ctx.Done() {
			return context.WithoutCancel(ctx)
		}
	}
	return ctx
}
