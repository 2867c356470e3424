package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// appendFile is an Update's fn that adds one file to the record's Config.
func appendFile(path string) func(*Record, bool) error {
	return func(rec *Record, _ bool) error {
		if rec.Config == nil {
			rec.Config = &ConfigState{}
		} else {
			c := *rec.Config // fn may run again: do not share the slice it grew
			c.Files = append([]ConfigFile(nil), c.Files...)
			rec.Config = &c
		}
		rec.Config.Files = append(rec.Config.Files, ConfigFile{Path: path, Kind: "file", Hash: blobHash([]byte(path))})
		return nil
	}
}

func sampleConfig() *ConfigState {
	return &ConfigState{
		Applied: blobHash([]byte("set 2")),
		Files: []ConfigFile{
			{Path: "/etc/omni/web.env", Kind: "env", Hash: blobHash([]byte("A=1\n")), Secret: true},
			{Path: "/etc/systemd/system/web.service.d/50-omni.conf", Kind: "dropin", Hash: blobHash([]byte("[Service]\n"))},
		},
		RunningWith: blobHash([]byte("set 1")),
		Pending:     true, PendingReason: "the restart failed",
		AppliedAt: t0, AppliedBy: "20261126T080000.000000000Z-00000001",
	}
}

// testConfigRecord: a record's Config round-trips, and Update changes only
// what its fn changes: a writer of the state fields keeps Config and
// Drained; an error or SkipUpdate writes nothing.
func testConfigRecord(t *testing.T, k storeKit) {
	s, other := k.open(t), k.open(t)
	drained := &Drained{Server: "lb1: be/web1", Since: t0, Run: "r1"}
	want := Record{Host: "web1", Service: "web", State: "running", Since: t0, UpdatedAt: t0, Drained: drained, Config: sampleConfig()}
	must(t, s.Put(want))
	got, ok, err := other.Get("web1", "web")
	if err != nil || !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("Get = %+v, %v, %v; want %+v", got, ok, err, want)
	}

	// A writer of the state fields (the record step) keeps the others.
	rec, err := other.Update("web1", "web", func(rec *Record, exists bool) error {
		if !exists {
			t.Error("Update: exists false for a record that exists")
		}
		rec.State, rec.UpdatedAt = "stopped", t0.Add(time.Minute)
		return nil
	})
	must(t, err)
	want.State, want.UpdatedAt = "stopped", t0.Add(time.Minute)
	if !reflect.DeepEqual(rec, want) {
		t.Fatalf("Update returned %+v, want %+v", rec, want)
	}
	if got, _, _ := s.Get("web1", "web"); !reflect.DeepEqual(got, want) {
		t.Fatalf("after Update: %+v, want %+v", got, want)
	}

	// Host and service are the arguments', whatever fn does.
	rec, err = s.Update("web1", "web", func(rec *Record, _ bool) error {
		rec.Host, rec.Service = "elsewhere", "other"
		rec.Config.MarkRunning()
		return nil
	})
	must(t, err)
	if rec.Host != "web1" || rec.Service != "web" || rec.Config.Pending || rec.Config.RunningWith != rec.Config.Applied {
		t.Fatalf("after MarkRunning: %+v %+v", rec, rec.Config)
	}
	if _, ok, _ := s.Get("elsewhere", "other"); ok {
		t.Fatal("Update wrote under the host and service its fn set")
	}
	want = rec

	// An error writes nothing and is returned; SkipUpdate writes nothing.
	boom := errors.New("boom")
	if _, err := s.Update("web1", "web", func(rec *Record, _ bool) error { rec.State = "x"; return boom }); !errors.Is(err, boom) {
		t.Fatalf("Update with a failing fn: %v", err)
	}
	rec, err = s.Update("web1", "web", func(rec *Record, _ bool) error { rec.State = "y"; return SkipUpdate })
	if err != nil || !reflect.DeepEqual(rec, want) {
		t.Fatalf("Update skipped: %+v, %v; want %+v", rec, err, want)
	}
	if got, _, _ := s.Get("web1", "web"); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a failed and a skipped Update: %+v, want %+v", got, want)
	}

	// A missing record: fn sees only host and service; skipped, none is made.
	if _, err := s.Update("web2", "web", func(rec *Record, exists bool) error {
		if exists || !reflect.DeepEqual(*rec, Record{Host: "web2", Service: "web"}) {
			t.Errorf("missing record: %+v, exists %v", *rec, exists)
		}
		return SkipUpdate
	}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Get("web2", "web"); ok {
		t.Fatal("a skipped Update made a record")
	}
	rec, err = s.Update("web2", "web", func(rec *Record, _ bool) error { rec.State = "unknown"; return nil })
	must(t, err)
	if got, ok, _ := other.Get("web2", "web"); !ok || !reflect.DeepEqual(got, rec) || got.State != "unknown" {
		t.Fatalf("Update of a missing record: %+v, %v", got, ok)
	}
	if _, err := s.Update("", "web", func(*Record, bool) error { return nil }); err == nil {
		t.Fatal("Update without a host was accepted")
	}
}

// testUpdateConcurrent: Updates from two handles and another process at
// once lose nothing: each is a read-modify-write of its own (a Get then a
// Put would lose the writes that land in between).
func testUpdateConcurrent(t *testing.T, k storeKit) {
	const n = 40
	child := startHelper(t, k, "config", "h/svc", n)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for g, s := range []Store{k.open(t), k.open(t)} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				if _, err := s.Update("h", "svc", appendFile(fmt.Sprintf("/g%d/%d", g, i))); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := child.wait(60 * time.Second); err != nil {
		t.Fatalf("helper: %v\n%s", err, child.stderr())
	}
	rec, _, err := k.open(t).Get("h", "svc")
	must(t, err)
	if rec.Config == nil || len(rec.Config.Files) != 3*n {
		got := 0
		if rec.Config != nil {
			got = len(rec.Config.Files)
		}
		t.Fatalf("%d files after %d concurrent updates: updates were lost", got, 3*n)
	}
	seen := map[string]bool{}
	for _, f := range rec.Config.Files {
		if seen[f.Path] {
			t.Fatalf("%s added twice", f.Path)
		}
		seen[f.Path] = true
	}
}

// testBlobs: blobs are content-addressed: kept under their hash, refused
// under another, idempotent, bounded to MaxBlobSize; a 1 MiB blob fits
// (etcd: within its default 1.5 MiB request limit).
func testBlobs(t *testing.T, k storeKit) {
	s, other := k.open(t), k.open(t)
	content := []byte("worker_processes 4;\n")
	h := blobHash(content)
	if _, ok, err := s.Blob(h); ok || err != nil {
		t.Fatalf("empty store: ok=%v err=%v", ok, err)
	}
	must(t, s.PutBlob(h, content))
	must(t, other.PutBlob(h, content)) // again: nothing to do
	got, ok, err := other.Blob(h)
	if err != nil || !ok || !bytes.Equal(got, content) {
		t.Fatalf("Blob = %q, %v, %v", got, ok, err)
	}
	empty := blobHash(nil)
	must(t, s.PutBlob(empty, nil))
	if got, ok, err := s.Blob(empty); err != nil || !ok || len(got) != 0 {
		t.Fatalf("empty blob: %q, %v, %v", got, ok, err)
	}

	wrong := blobHash([]byte("something else"))
	err = s.PutBlob(wrong, content)
	if err == nil || !strings.Contains(err.Error(), wrong) || !strings.Contains(err.Error(), h) {
		t.Fatalf("a blob under another hash: %v", err)
	}
	if _, ok, _ := s.Blob(wrong); ok {
		t.Fatal("a refused blob was kept")
	}
	for _, bad := range []string{"", "sha256:", "md5:" + strings.Repeat("0", 64), strings.ToUpper(h), h + "0", "../" + h} {
		if err := s.PutBlob(bad, content); err == nil || !strings.Contains(err.Error(), "not a content hash") {
			t.Errorf("PutBlob(%q): %v", bad, err)
		}
		if _, _, err := s.Blob(bad); err == nil {
			t.Errorf("Blob(%q) accepted", bad)
		}
	}

	big := bytes.Repeat([]byte("0123456789abcdef"), MaxBlobSize/16) // exactly 1 MiB
	must(t, s.PutBlob(blobHash(big), big))
	if got, ok, err := other.Blob(blobHash(big)); err != nil || !ok || !bytes.Equal(got, big) {
		t.Fatalf("1 MiB blob: %d bytes, %v, %v", len(got), ok, err)
	}
	tooBig := append(big, '\n')
	err = s.PutBlob(blobHash(tooBig), tooBig)
	if err == nil || !strings.Contains(err.Error(), "1 MiB") || !strings.Contains(err.Error(), fmt.Sprint(len(tooBig))) {
		t.Fatalf("a blob over 1 MiB: %v", err)
	}
	if _, ok, _ := s.Blob(blobHash(tooBig)); ok {
		t.Fatal("a blob over 1 MiB was kept")
	}
}

// corruptBlob overwrites the blob under hash with content, behind the
// store's back (a damaged disk, a hand edit).
func corruptBlob(t *testing.T, s Store, hash string, content []byte) {
	t.Helper()
	switch s := s.(type) {
	case *Bolt:
		must(t, s.tx(true, func(tx *bolt.Tx) error {
			return tx.Bucket(blobsBucket).Put([]byte(hash), content)
		}))
	case *Etcd:
		ctx, cancel := s.ctx()
		defer cancel()
		_, err := s.cli.Put(ctx, s.blobKey(hash), string(content))
		must(t, err)
	default:
		t.Fatalf("corruptBlob: %T", s)
	}
}

// testBlobDamaged: a blob whose content no longer hashes to its name is an
// error naming it, never content.
func testBlobDamaged(t *testing.T, k storeKit) {
	s := k.open(t)
	content := []byte("listen 80;\n")
	h := blobHash(content)
	must(t, s.PutBlob(h, content))
	corruptBlob(t, s, h, []byte("listen 8O;\n"))
	got, ok, err := k.open(t).Blob(h)
	if err == nil || got != nil || ok || !strings.Contains(err.Error(), h) || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("damaged blob: %q, %v, %v", got, ok, err)
	}
	// Putting the right content again mends it.
	must(t, s.PutBlob(h, content))
	if got, ok, err := s.Blob(h); err != nil || !ok || !bytes.Equal(got, content) {
		t.Fatalf("mended blob: %q, %v, %v", got, ok, err)
	}
}

// testConfigEvents: an event's Config changes round-trip, and ConfigOnly
// keeps the events that changed configuration.
func testConfigEvents(t *testing.T, k storeKit) {
	s := k.open(t)
	a, b := blobHash([]byte("A=1\n")), blobHash([]byte("A=2\n"))
	run := func(started time.Time, host, cmd string, changes []ConfigChange) Event {
		t.Helper()
		ev := Event{Started: started, Operator: "alice@m1", Command: cmd, Host: host, Service: "web"}
		id, err := s.BeginEvent(ev)
		must(t, err)
		ev.ID, ev.Result, ev.Config, ev.Finished = id, "ok", changes, started.Add(time.Second)
		must(t, s.FinishEvent(ev))
		ev.Complete = true
		return ev
	}
	applied := run(t0, "h1", "config apply", []ConfigChange{
		{Path: "/etc/omni/web.env", Kind: "env", Old: a, New: b, Secret: true, Action: ConfigWritten},
		{Path: "/etc/nginx/nginx.conf", Kind: "file", Old: a, New: a, Action: ConfigAttrs},
	})
	run(t0.Add(time.Minute), "h1", "restart", nil)
	run(t0.Add(2*time.Minute), "h1", "config apply", []ConfigChange{{Path: "/etc/omni/web.env", Kind: "env", Old: b, New: b, Action: ConfigUnchanged}})
	rolled := run(t0.Add(3*time.Minute), "h2", "config rollback", []ConfigChange{{Path: "/etc/omni/web.env", Kind: "env", Old: b, New: a, Action: ConfigRolledBack}})

	all, err := k.open(t).Events(EventQuery{})
	must(t, err)
	if len(all) != 4 || !reflect.DeepEqual(all[3], applied) {
		t.Fatalf("events: %s; oldest %+v, want %+v", ids(all), all[len(all)-1], applied)
	}
	got, err := s.Events(EventQuery{ConfigOnly: true})
	must(t, err)
	if len(got) != 2 || !reflect.DeepEqual(got[0], rolled) || !reflect.DeepEqual(got[1], applied) {
		t.Fatalf("ConfigOnly: %+v", got)
	}
	got, err = s.Events(EventQuery{ConfigOnly: true, Hosts: []string{"h1"}, Service: "web"})
	must(t, err)
	if len(got) != 1 || got[0].ID != applied.ID {
		t.Fatalf("ConfigOnly of h1: %s", ids(got))
	}
}

// TestRecordJSON pins the JSON shape of a record's Config and an event's
// Config changes, as docs/config.md.d/registry.md shows them.
func TestRecordJSON(t *testing.T) {
	rec := Record{Host: "web1", Service: "web", State: "running", UpdatedAt: t0, Config: &ConfigState{
		Applied: "sha256:aa", RunningWith: "sha256:bb", Pending: true, PendingReason: "restart failed",
		AppliedAt: t0, AppliedBy: "20261126T080000.000000000Z-00000001",
		Files: []ConfigFile{{Path: "/etc/omni/web.env", Kind: "env", Hash: "sha256:cc", Secret: true}},
	}}
	got, err := json.Marshal(rec.Config)
	must(t, err)
	want := `{"applied":"sha256:aa","files":[{"path":"/etc/omni/web.env","kind":"env","hash":"sha256:cc","secret":true}],` +
		`"running_with":"sha256:bb","pending":true,"pending_reason":"restart failed","applied_at":"2026-11-26T08:00:00Z",` +
		`"applied_by":"20261126T080000.000000000Z-00000001"}`
	if string(got) != want {
		t.Errorf("config JSON:\n got %s\nwant %s", got, want)
	}
	if got, _ := json.Marshal(Record{Host: "h", Service: "s"}); strings.Contains(string(got), "config") {
		t.Errorf("a record without config: %s", got)
	}
	got, err = json.Marshal(ConfigChange{Path: "/etc/omni/web.env", Kind: "env", Old: "sha256:aa", New: "sha256:bb", Secret: true, Action: ConfigWritten})
	must(t, err)
	if want := `{"path":"/etc/omni/web.env","kind":"env","old":"sha256:aa","new":"sha256:bb","secret":true,"action":"written"}`; string(got) != want {
		t.Errorf("change JSON:\n got %s\nwant %s", got, want)
	}
}
