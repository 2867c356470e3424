package registry

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
)

// TestRecordKeepsUnknownFields (found by review): members of a record
// that this omni does not know (a newer omni's), at the top and in
// drained and config, survive a decode and encode.
func TestRecordKeepsUnknownFields(t *testing.T) {
	newer := `{"host":"h","service":"s","state":"stopped","updated_at":"2026-12-01T00:00:00Z",` +
		`"drained":{"server":"lb1: be/h","since":"2026-12-01T00:00:00Z","weight":0},` +
		`"config":{"applied":"sha256:00","signed_by":"alice"},"maintenance":{"by":"alice@ops1"}}`
	var rec Record
	must(t, json.Unmarshal([]byte(newer), &rec))
	rec.State = "running"
	b, err := json.Marshal(rec)
	must(t, err)
	var got map[string]any
	must(t, json.Unmarshal(b, &got))
	if got["state"] != "running" || got["maintenance"] == nil ||
		got["drained"].(map[string]any)["weight"] == nil || got["config"].(map[string]any)["signed_by"] != "alice" {
		t.Fatalf("wrote %s over %s", b, newer)
	}
	var none Record
	must(t, json.Unmarshal([]byte(`{"host":"h","service":"s","state":"x","updated_at":"2026-12-01T00:00:00Z"}`), &none))
	if none.Unknown != nil {
		t.Fatalf("unknown of a record without any: %v", none.Unknown)
	}
}

// TestUpdateKeepsUnknownFields: both stores keep them across Update.
func TestUpdateKeepsUnknownFields(t *testing.T) {
	b, err := OpenBolt(filepath.Join(t.TempDir(), "registry.db"))
	must(t, err)
	defer b.Close()
	e, err := OpenEtcd(context.Background(), EtcdConfig{Endpoints: []string{startReviewEtcd(t, "127.0.95.75")}})
	must(t, err)
	defer e.Close()
	for name, s := range map[string]Store{"bolt": b, "etcd": e} {
		must(t, s.Put(Record{Host: "h", Service: "s", State: "stopped", Unknown: Unknown{"maintenance": json.RawMessage(`{"by":"alice"}`)}}))
		_, err := s.Update("h", "s", func(rec *Record, _ bool) error { rec.State = "running"; return nil })
		must(t, err)
		rec, _, err := s.Get("h", "s")
		must(t, err)
		if rec.State != "running" || string(rec.Unknown["maintenance"]) != `{"by":"alice"}` {
			t.Errorf("%s: after Update: %+v", name, rec)
		}
	}
}
