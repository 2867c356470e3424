package registry

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// How an event is kept on etcd, which refuses any request over 1.5 MiB
// (its default --max-request-bytes), whereas bbolt takes an event of any
// size (a 10,000-host fleet run's is about 2 MB):
//
//   - up to eventInline bytes of JSON, as is (every older event);
//   - larger, gzip-compressed (the value starts with gzip's magic bytes,
//     which JSON never does): a fleet's host results compress about
//     tenfold;
//   - compressed and still over eventPart, in parts of eventPart bytes
//     under PREFIX/eventparts/ID/TOKEN/NNNNNN, written before the head
//     that names them (eventPartsMagic + JSON {"token":...,"parts":N}),
//     so a head never names parts that are not there. TOKEN is new on
//     each write: a write never changes the parts a reader may be
//     reading, and the parts a head no longer names are deleted after.
const (
	eventInline     = 512 << 10
	eventPart       = 1 << 20
	eventPartsMagic = "omni:event-parts:"
)

var gzipMagic = []byte{0x1f, 0x8b}

// eventParts is what the head of an event kept in parts says.
type eventParts struct {
	Token string `json:"token"`
	Parts int    `json:"parts"`
}

func (s *Etcd) partKey(id, token string, i int) string {
	return fmt.Sprintf("%s/eventparts/%s/%s/%06d", s.prefix, id, token, i)
}

func (s *Etcd) partsPrefix(id, token string) string {
	return fmt.Sprintf("%s/eventparts/%s/%s/", s.prefix, id, token)
}

// putEventParts encodes ev for its key: the head to put, and the parts
// it names, already written (delete them with dropParts if the head is
// not put). token is "" when there are none.
func (s *Etcd) putEventParts(ev Event) (head []byte, token string, err error) {
	v, err := json.Marshal(ev)
	if err != nil || len(v) <= eventInline {
		return v, "", err
	}
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	if _, err := w.Write(v); err != nil {
		return nil, "", err
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	if z.Len() <= eventPart {
		return z.Bytes(), "", nil
	}
	token = newToken()
	all := z.Bytes()
	n := 0
	for ; len(all) > 0; n++ {
		part := all[:min(len(all), eventPart)]
		all = all[len(part):]
		ctx, cancel := s.ctx()
		_, err := s.cli.Put(ctx, s.partKey(ev.ID, token, n), string(part))
		cancel()
		if err != nil {
			s.dropParts(ev.ID, token)
			return nil, "", s.errorf("event %s: part %d: %w", ev.ID, n, err)
		}
	}
	head, err = json.Marshal(eventParts{Token: token, Parts: n})
	return append([]byte(eventPartsMagic), head...), token, err
}

// dropParts deletes the parts of event id written under token: best
// effort, as what it leaves is never read.
func (s *Etcd) dropParts(id, token string) {
	if token == "" {
		return
	}
	ctx, cancel := s.ctx()
	defer cancel()
	s.cli.Delete(ctx, s.partsPrefix(id, token), clientv3.WithPrefix())
}

// headToken is the token of the parts a head names, "" when none.
func headToken(head []byte) string {
	var p eventParts
	if rest, ok := bytes.CutPrefix(head, []byte(eventPartsMagic)); ok && json.Unmarshal(rest, &p) == nil {
		return p.Token
	}
	return ""
}

// eventJSON is the JSON of the event whose head (the value of its key)
// is head: as is, uncompressed, or read from its parts.
func (s *Etcd) eventJSON(ctx context.Context, key string, head []byte) ([]byte, error) {
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		return gunzip(head)
	case bytes.HasPrefix(head, []byte(eventPartsMagic)):
	default:
		return head, nil
	}
	var p eventParts
	if err := json.Unmarshal(head[len(eventPartsMagic):], &p); err != nil || p.Token == "" || p.Parts < 1 {
		return nil, s.errorf("bad event at %s: its head does not name its parts (%q)", key, head)
	}
	id := key[len(s.eventKey("")):]
	resp, err := s.cli.Get(ctx, s.partsPrefix(id, p.Token), clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, s.errorf("event %s: its parts: %w", id, err)
	}
	if len(resp.Kvs) != p.Parts {
		return nil, s.errorf("bad event at %s: %d of its %d parts found", key, len(resp.Kvs), p.Parts)
	}
	var z []byte
	for _, kv := range resp.Kvs {
		z = append(z, kv.Value...)
	}
	return gunzip(z)
}

func gunzip(z []byte) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}
