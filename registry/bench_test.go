package registry

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The embedded store's figures (docs/benchmarks.md, "Registry"):
//
//	go test -run XXX -bench . -benchtime 1x -count 5 ./registry/   # the 10,000 events
//	go test -run XXX -bench 'Status|Get|Put|History' -count 5 ./registry/

// restartEvent is an event as a restart records it: five steps.
func restartEvent(i int) Event {
	host, svc := fmt.Sprintf("worker%04d", i%1000), services[i%len(services)]
	ev := Event{Operator: "cron@ops1", Command: "restart", Host: host, Service: svc}
	for _, step := range []string{"stop", "verify-stopped", "start", "health", "record"} {
		ev.Steps = append(ev.Steps, EventStep{Step: step, Host: host, Service: svc, Result: "ok", Duration: 20 * time.Millisecond})
	}
	return ev
}

var services = []string{"orchestrator-core", "network-agent", "container-runtime", "storage-agent"}

// BenchmarkRecord10000Events records 10,000 events through the API, as
// runs do: BeginEvent, then FinishEvent, each its own transaction.
func BenchmarkRecord10000Events(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		s, err := OpenBolt(filepath.Join(b.TempDir(), "registry.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		for i := range 10_000 {
			ev := restartEvent(i)
			id, err := s.BeginEvent(ev)
			if err != nil {
				b.Fatal(err)
			}
			ev.ID, ev.Result = id, "ok"
			if err := s.FinishEvent(ev); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/10_000, "µs/event")
		s.Close()
	}
}

// fleetStore is a store holding the status of 1,000 hosts × 4 services
// and 10,000 events, written in one transaction.
func fleetStore(b *testing.B) *Bolt {
	b.Helper()
	s, err := OpenBolt(filepath.Join(b.TempDir(), "registry.db"))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	err = s.tx(true, func(tx *bolt.Tx) error {
		recs, evs := tx.Bucket(recordsBucket), tx.Bucket(eventsBucket)
		for h := range 1000 {
			for _, svc := range services {
				rec := Record{Host: fmt.Sprintf("worker%04d", h), Service: svc, State: "running", Since: now,
					LastActive: now, Health: "passed", UpdatedAt: now}
				v, _ := json.Marshal(rec)
				if err := recs.Put([]byte(LockKey(rec.Host, rec.Service)), v); err != nil {
					return err
				}
			}
		}
		for i := range 10_000 {
			ev := restartEvent(i)
			ev.Started, ev.Finished, ev.Result, ev.Complete = now.Add(time.Duration(i)*time.Second), now, "ok", true
			seq, _ := evs.NextSequence()
			ev.ID = eventID(ev.Started, uint32(seq))
			v, _ := json.Marshal(ev)
			if err := evs.Put([]byte(ev.ID), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkStatus1000Hosts reads the whole fleet's status: List of 4,000
// records.
func BenchmarkStatus1000Hosts(b *testing.B) {
	s := fleetStore(b)
	for b.Loop() {
		recs, err := s.List()
		if err != nil || len(recs) != 4000 {
			b.Fatal(len(recs), err)
		}
	}
}

// BenchmarkHistoryLast50 is `omni service history --limit 50`.
func BenchmarkHistoryLast50(b *testing.B) {
	s := fleetStore(b)
	for b.Loop() {
		if evs, err := s.Events(EventQuery{Limit: 50}); err != nil || len(evs) != 50 {
			b.Fatal(len(evs), err)
		}
	}
}

// BenchmarkHistoryOneService is `omni service history HOST SERVICE`: a
// scan of all 10,000 events for the 10 of one service.
func BenchmarkHistoryOneService(b *testing.B) {
	s := fleetStore(b)
	for b.Loop() {
		if evs, err := s.Events(EventQuery{Hosts: []string{"worker0001"}, Service: services[1]}); err != nil || len(evs) != 10 {
			b.Fatal(len(evs), err)
		}
	}
}

// BenchmarkGet is one record read: open, read-only transaction, close.
func BenchmarkGet(b *testing.B) {
	s := fleetStore(b)
	for b.Loop() {
		if _, ok, err := s.Get("worker0500", services[2]); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkGetHeldOpen is the same read on a file kept open: what opening
// per operation costs.
func BenchmarkGetHeldOpen(b *testing.B) {
	s := fleetStore(b)
	db, err := bolt.Open(s.path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for b.Loop() {
		db.View(func(tx *bolt.Tx) error {
			if tx.Bucket(recordsBucket).Get([]byte(LockKey("worker0500", services[2]))) == nil {
				b.Fatal("missing")
			}
			return nil
		})
	}
}

// BenchmarkPut is one record write: open, transaction (fsync), close.
func BenchmarkPut(b *testing.B) {
	s := fleetStore(b)
	rec := Record{Host: "worker0500", Service: services[2], State: "running"}
	for b.Loop() {
		rec.UpdatedAt = time.Now()
		if err := s.Put(rec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFleetRestart50Hosts records what a restart of 50 hosts at once
// writes: per host, its event begun, its record, its event finished, the
// hosts' writes arriving together as they do under --forks 50.
//
//	go test -run XXX -bench FleetRestart -count 7 ./registry/
func BenchmarkFleetRestart50Hosts(b *testing.B) {
	s, err := OpenBolt(filepath.Join(b.TempDir(), "registry.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for b.Loop() {
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				ev := restartEvent(i)
				id, err := s.BeginEvent(ev)
				if err != nil {
					b.Error(err)
					return
				}
				if err := s.Put(Record{Host: ev.Host, Service: ev.Service, State: "running", UpdatedAt: time.Now()}); err != nil {
					b.Error(err)
				}
				ev.ID, ev.Result = id, "ok"
				if err := s.FinishEvent(ev); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
}
