package registry

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPutGetList(t *testing.T) {
	path := filepath.Join(t.TempDir(), "omni", "state.json")
	reg, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := reg.Get("worker1", "container-runtime"); ok || err != nil {
		t.Fatalf("empty registry: ok=%v err=%v", ok, err)
	}
	at := time.Date(2025, 3, 18, 15, 45, 27, 0, time.UTC)
	want := Record{Host: "worker1", Service: "container-runtime", State: "stopped", Since: at, LastActive: at, UpdatedAt: at}
	if err := reg.Put(want); err != nil {
		t.Fatal(err)
	}
	if err := reg.Put(Record{Host: "primary-bastion", Service: "api-gateway", State: "running", UpdatedAt: at}); err != nil {
		t.Fatal(err)
	}
	// A second handle (another process) sees the same data.
	again, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := again.Get("worker1", "container-runtime")
	if err != nil || !ok || !got.LastActive.Equal(at) || got.State != "stopped" {
		t.Fatalf("got %+v ok=%v err=%v", got, ok, err)
	}
	all, _ := again.List()
	if len(all) != 2 || all[0].Host != "primary-bastion" {
		t.Fatalf("list: %+v", all)
	}
}

func TestConcurrentPutsLoseNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			reg, err := OpenFile(path) // separate handles, as separate processes would have
			if err != nil {
				t.Error(err)
				return
			}
			if err := reg.Put(Record{Host: "h", Service: "svc-" + string(rune('a'+i)), State: "running"}); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	reg, _ := OpenFile(path)
	all, _ := reg.List()
	if len(all) != 20 {
		t.Fatalf("%d records, want 20", len(all))
	}
}

func TestCorruptFileIsAClearError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	os.WriteFile(path, []byte("{not json"), 0o600)
	_, err := OpenFile(path)
	if err == nil || !strings.Contains(err.Error(), "is corrupt") || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v", err)
	}
}
