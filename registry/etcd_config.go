package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func (s *Etcd) blobKey(hash string) string { return s.prefix + "/blobs/" + hash }

// Update implements Registry: a compare-and-swap on the record's revision,
// tried again with the new record while another writer changes it in
// between, until the request timeout.
func (s *Etcd) Update(host, service string, fn func(rec *Record, exists bool) error) (Record, error) {
	if err := s.check(); err != nil {
		return Record{}, err
	}
	if host == "" || service == "" {
		return Record{}, fmt.Errorf("registry: update without host or service (%q, %q)", host, service)
	}
	ctx, cancel := s.ctx()
	defer cancel()
	key := s.recordKey(host, service)
	for attempt := 1; ; attempt++ {
		resp, err := s.cli.Get(ctx, key)
		if err != nil {
			return Record{}, s.errorf("update %s: %w", key, err)
		}
		rec := Record{Host: host, Service: service}
		var rev int64 // ModRevision of what was read; 0: no record
		if len(resp.Kvs) > 0 {
			rev = resp.Kvs[0].ModRevision
			if err := s.decode("record", key, resp.Kvs[0].Value, &rec); err != nil {
				return Record{}, err
			}
		}
		old := rec
		if err := fn(&rec, rev != 0); err != nil {
			if errors.Is(err, SkipUpdate) {
				return old, nil
			}
			return Record{}, err
		}
		rec.Host, rec.Service = host, service
		v, err := json.Marshal(rec)
		if err != nil {
			return Record{}, err
		}
		// ModRevision is 0 for a key that does not exist.
		txn, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
			Then(clientv3.OpPut(key, string(v))).
			Commit()
		if err != nil {
			return Record{}, s.errorf("update %s (attempt %d): %w", key, attempt, err)
		}
		if txn.Succeeded {
			return rec, nil
		}
		if ctx.Err() != nil {
			return Record{}, s.errorf("update %s: still changed by other writers after %d attempts: %w", key, attempt, ctx.Err())
		}
	}
}

// PutBlob implements Store: the blob's raw bytes under PREFIX/blobs/HASH,
// written unless the same bytes are there (a damaged blob is written
// over). One MiB fits in etcd's default request limit (1.5 MiB), so a
// blob is one key. Writers of the same hash write the same bytes, so a
// plain put after the read is safe.
func (s *Etcd) PutBlob(hash string, content []byte) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := checkBlob(hash, content); err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	key := s.blobKey(hash)
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return s.errorf("put blob %s: %w", hash, err)
	}
	if len(resp.Kvs) > 0 && bytes.Equal(resp.Kvs[0].Value, content) {
		return nil
	}
	if _, err := s.cli.Put(ctx, key, string(content)); err != nil {
		return s.errorf("put blob %s (%d bytes): %w", hash, len(content), err)
	}
	return nil
}

// Blob implements Store.
func (s *Etcd) Blob(hash string) ([]byte, bool, error) {
	if err := s.check(); err != nil {
		return nil, false, err
	}
	if err := checkHash(hash); err != nil {
		return nil, false, err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	key := s.blobKey(hash)
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return nil, false, s.errorf("blob %s: %w", hash, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, false, nil
	}
	out, err := verifyBlob(fmt.Sprintf("registry etcd %s (prefix %s)", s.endpoints, s.prefixName()), hash, resp.Kvs[0].Value)
	if err != nil {
		return nil, false, err
	}
	return out, true, nil
}
