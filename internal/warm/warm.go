package warm

import (
	"sync"
	"time"
)

// idle is how long a goroutine waits for more work before it ends.
const idle = 2 * time.Second

// A Pool runs functions on goroutines of its own that ran its functions
// before, when one is waiting. Its zero value is not usable: see New.
type Pool struct {
	work chan func() // to a goroutine waiting for a function
	quit chan struct{}
	once sync.Once
}

// New returns a pool with no goroutine yet.
func New() *Pool {
	return &Pool{work: make(chan func()), quit: make(chan struct{})}
}

// Go runs f on a goroutine of its own, as the go statement does: one of
// the pool's that is waiting for work, or a new one. Nothing else
// differs: f runs at once, concurrently with the caller, and a panic in f
// ends the program. A nil pool starts a new goroutine each time.
func (p *Pool) Go(f func()) {
	if p == nil {
		go f()
		return
	}
	select {
	case p.work <- f:
	default:
		go p.serve(f)
	}
}

// Close ends the pool's waiting goroutines now rather than after their
// idle time; one running a function ends after it. Go still runs what it
// is given afterwards, each on a new goroutine.
func (p *Pool) Close() {
	p.once.Do(func() { close(p.quit) })
}

func (p *Pool) serve(f func()) {
	t := time.NewTimer(idle)
	defer t.Stop()
	for {
		f()
		f = nil // nothing of the last function is kept while waiting
		t.Reset(idle)
		select {
		case f = <-p.work:
		case <-t.C:
			return
		case <-p.quit:
			return
		}
	}
}
