package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// blobsBucket holds blobs under their hash, content as is.
var blobsBucket = []byte("blobs")

// Update implements Registry: read, fn, write in one write transaction.
func (b *Bolt) Update(host, service string, fn func(rec *Record, exists bool) error) (Record, error) {
	if err := b.check(); err != nil {
		return Record{}, err
	}
	if host == "" || service == "" {
		return Record{}, fmt.Errorf("registry: update without host or service (%q, %q)", host, service)
	}
	var out Record
	key := []byte(LockKey(host, service))
	err := b.tx(true, func(tx *bolt.Tx) error {
		bkt, err := bucket(tx, recordsBucket)
		if err != nil {
			return err
		}
		rec := Record{Host: host, Service: service}
		v := bkt.Get(key)
		if v != nil {
			if err := b.decode("record", v, &rec); err != nil {
				return err
			}
		}
		old := rec
		if err := fn(&rec, v != nil); err != nil {
			if errors.Is(err, SkipUpdate) {
				out = old
				return nil
			}
			return err
		}
		rec.Host, rec.Service = host, service
		nv, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		out = rec
		return bkt.Put(key, nv)
	})
	if err != nil {
		return Record{}, err
	}
	return out, nil
}

// PutBlob implements Store.
func (b *Bolt) PutBlob(hash string, content []byte) error {
	if err := b.check(); err != nil {
		return err
	}
	if err := checkBlob(hash, content); err != nil {
		return err
	}
	return b.tx(true, func(tx *bolt.Tx) error {
		bkt, err := bucket(tx, blobsBucket)
		if err != nil {
			return err
		}
		if old := bkt.Get([]byte(hash)); old != nil && bytes.Equal(old, content) {
			return nil // content-addressed: the same content is there
		}
		// New, or damaged: (re)write it.
		return bkt.Put([]byte(hash), content)
	})
}

// Blob implements Store.
func (b *Bolt) Blob(hash string) ([]byte, bool, error) {
	if err := b.check(); err != nil {
		return nil, false, err
	}
	if err := checkHash(hash); err != nil {
		return nil, false, err
	}
	var out []byte
	var ok bool
	err := b.tx(false, func(tx *bolt.Tx) error {
		bkt, _ := bucket(tx, blobsBucket)
		if bkt == nil {
			return nil
		}
		v := bkt.Get([]byte(hash))
		if v == nil {
			return nil
		}
		ok = true
		var err error
		out, err = verifyBlob("registry "+b.path, hash, append([]byte(nil), v...)) // v lives as long as tx
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return out, ok, nil
}
