package registry

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
)

// bbolt's on-disk format (go.etcd.io/bbolt/internal/common), read here
// with bounds checks so that a damaged file is reported before bbolt,
// which trusts every offset it finds in its memory map, reads it.
const (
	boltMagic       = 0xED0CDAED
	boltVersion     = 2
	pageHeaderSize  = 16 // id u64, flags u16, count u16, overflow u32
	elementSize     = 16 // branch: pos, ksize u32, pgid u64; leaf: flags, pos, ksize, vsize u32
	bucketHeader    = 16 // root pgid u64, sequence u64
	metaSize        = 64 // magic .. checksum
	branchPage      = 0x01
	leafPage        = 0x02
	metaPage        = 0x04
	freelistPage    = 0x10
	bucketLeafFlag  = 0x01
	noFreelist      = ^uint64(0)
	maxTreeDepth    = 64
	minBoltPageSize = 1024
	maxBoltPageSize = 1 << 24
)

var le = binary.LittleEndian

// boltMeta is the meta page bbolt will use.
type boltMeta struct {
	pageSize uint64
	root     uint64 // root bucket's page
	freelist uint64
	hwm      uint64 // high-water mark: pages [0, hwm) are in use or free
	txid     uint64
}

// parseMeta reads the meta in page (from its page header on); ok is false
// when its magic, version or checksum is wrong.
func parseMeta(page []byte) (m boltMeta, ok bool) {
	if len(page) < pageHeaderSize+metaSize {
		return m, false
	}
	b := page[pageHeaderSize : pageHeaderSize+metaSize]
	h := fnv.New64a()
	h.Write(b[:56])
	if le.Uint32(b[0:]) != boltMagic || le.Uint32(b[4:]) != boltVersion || le.Uint64(b[56:]) != h.Sum64() {
		return m, false
	}
	return boltMeta{pageSize: uint64(le.Uint32(b[8:])), root: le.Uint64(b[16:]), freelist: le.Uint64(b[32:]),
		hwm: le.Uint64(b[40:]), txid: le.Uint64(b[48:])}, true
}

// readMeta finds the meta page bbolt will use, as bbolt does: the page
// size from meta 0, else from meta 1 wherever a page size puts it; then
// the valid one of the two with the higher transaction id. It checks that
// the file holds every page below the high-water mark, and that the root
// and freelist pages are among them.
func readMeta(r io.ReaderAt, size int64) (boltMeta, error) {
	if size < 2*minBoltPageSize {
		return boltMeta{}, fmt.Errorf("%d bytes, too short for a database", size)
	}
	page := func(off int64) []byte {
		buf := make([]byte, pageHeaderSize+metaSize)
		if n, _ := r.ReadAt(buf, off); n < len(buf) {
			return nil
		}
		return buf
	}
	m0, ok0 := parseMeta(page(0))
	ps := m0.pageSize
	if !ok0 {
		for off := int64(minBoltPageSize); off <= maxBoltPageSize && off < size; off *= 2 {
			if m, ok := parseMeta(page(off)); ok && m.pageSize == uint64(off) {
				ps = m.pageSize
				break
			}
		}
	}
	if ps < minBoltPageSize || ps > maxBoltPageSize || ps&(ps-1) != 0 {
		return boltMeta{}, errors.New("neither of its two meta pages is valid (magic, version, checksum)")
	}
	m1, ok1 := parseMeta(page(int64(ps)))
	m := m0
	switch {
	case ok0 && ok1 && m1.pageSize != ps:
		return boltMeta{}, fmt.Errorf("its meta pages disagree on the page size (%d, %d)", ps, m1.pageSize)
	case ok1 && (!ok0 || m1.txid > m0.txid):
		m = m1
	case !ok0:
		return boltMeta{}, errors.New("neither of its two meta pages is valid (magic, version, checksum)")
	}
	if m.hwm < 3 || m.hwm > uint64(size)/ps {
		return boltMeta{}, fmt.Errorf("it is %d bytes, but its meta page counts %d pages of %d bytes (cut short?)", size, m.hwm, ps)
	}
	if m.root < 2 || m.root >= m.hwm {
		return boltMeta{}, fmt.Errorf("root page %d out of range [2, %d)", m.root, m.hwm)
	}
	if m.freelist != noFreelist && (m.freelist < 2 || m.freelist >= m.hwm) {
		return boltMeta{}, fmt.Errorf("freelist page %d out of range [2, %d)", m.freelist, m.hwm)
	}
	return m, nil
}

// boltFile is pages of a file: data holds pages [first, ...).
type boltFile struct {
	m     boltMeta
	first uint64
	data  []byte
}

// pageAt returns page id with its overflow pages, checking its header.
func (f *boltFile) pageAt(id uint64) ([]byte, error) {
	if id < 2 || id >= f.m.hwm {
		return nil, fmt.Errorf("page %d out of range [2, %d)", id, f.m.hwm)
	}
	if id < f.first || (id-f.first+1)*f.m.pageSize > uint64(len(f.data)) {
		return nil, fmt.Errorf("page %d was not read", id)
	}
	off := (id - f.first) * f.m.pageSize
	h := f.data[off : off+pageHeaderSize]
	if got := le.Uint64(h); got != id {
		return nil, fmt.Errorf("page %d says it is page %d", id, got)
	}
	overflow := uint64(le.Uint32(h[12:]))
	if overflow >= f.m.hwm-id || off+(overflow+1)*f.m.pageSize > uint64(len(f.data)) {
		return nil, fmt.Errorf("page %d: %d overflow pages run past page %d", id, overflow, f.m.hwm)
	}
	return f.data[off : off+(overflow+1)*f.m.pageSize], nil
}

// freelist returns the free page ids, checked: in range, sorted, no twice.
func (f *boltFile) freelist() ([]uint64, []byte, error) {
	if f.m.freelist == noFreelist {
		return nil, nil, nil
	}
	p, err := f.pageAt(f.m.freelist)
	if err != nil {
		return nil, nil, fmt.Errorf("freelist: %w", err)
	}
	if flags := le.Uint16(p[8:]); flags != freelistPage {
		return nil, nil, fmt.Errorf("freelist page %d has type %#x", f.m.freelist, flags)
	}
	n, start := uint64(le.Uint16(p[10:])), uint64(pageHeaderSize)
	if n == 0xFFFF {
		n, start = le.Uint64(p[pageHeaderSize:]), pageHeaderSize+8
	}
	if n > (uint64(len(p))-start)/8 {
		return nil, nil, fmt.Errorf("freelist page %d counts %d ids, more than it holds", f.m.freelist, n)
	}
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = le.Uint64(p[start+uint64(i)*8:])
		if ids[i] < 2 || ids[i] >= f.m.hwm {
			return nil, nil, fmt.Errorf("freelist: page %d out of range [2, %d)", ids[i], f.m.hwm)
		}
	}
	return ids, p, nil
}

// checkMeta is the check before every transaction: the meta page, the
// file size, the freelist bbolt reads when it opens the file.
func checkMeta(r io.ReaderAt, size int64) error {
	m, err := readMeta(r, size)
	if err != nil {
		return err
	}
	if m.freelist == noFreelist {
		return nil
	}
	head := make([]byte, pageHeaderSize)
	if _, err := r.ReadAt(head, int64(m.freelist*m.pageSize)); err != nil {
		return fmt.Errorf("freelist: %w", err)
	}
	overflow := uint64(le.Uint32(head[12:]))
	if overflow >= m.hwm-m.freelist {
		return fmt.Errorf("freelist page %d: %d overflow pages run past page %d", m.freelist, overflow, m.hwm)
	}
	f := &boltFile{m: m, first: m.freelist, data: make([]byte, (overflow+1)*m.pageSize)}
	if _, err := r.ReadAt(f.data, int64(m.freelist*m.pageSize)); err != nil {
		return fmt.Errorf("freelist: %w", err)
	}
	_, _, err = f.freelist()
	return err
}

// checkFile is the whole check, when the store is opened: checkMeta, then
// every page reachable from the root, as bbolt's tx.Check does it (which
// cannot be used on a damaged file: it reads pages in a goroutine of its
// own, where a read past the end of the file kills the process). Every
// page is a branch or leaf page, referenced once, within the file, with
// its elements inside it and its keys in order; every page below the
// high-water mark is in use, free, or a meta or freelist page.
func checkFile(r io.ReaderAt, size int64) error {
	if err := checkMeta(r, size); err != nil {
		return err
	}
	m, _ := readMeta(r, size)
	f := &boltFile{m: m, data: make([]byte, m.hwm*m.pageSize)}
	if _, err := r.ReadAt(f.data, 0); err != nil {
		return err
	}
	// bbolt's check asserts the headers of the meta pages too.
	for id := range uint64(2) {
		h := f.data[id*m.pageSize:]
		if got, flags := le.Uint64(h), le.Uint16(h[8:]); got != id || flags != metaPage {
			return fmt.Errorf("meta page %d: header says page %d of type %#x", id, got, flags)
		}
	}
	c := &checker{f: f, state: make([]byte, m.hwm)}
	c.state[0], c.state[1] = inUse, inUse
	free, flp, err := f.freelist()
	if err != nil {
		return err
	}
	for _, id := range free {
		if c.state[id] != 0 {
			return fmt.Errorf("freelist: page %d freed twice", id)
		}
		c.state[id] = freed
	}
	if flp != nil {
		for i := range uint64(len(flp)) / m.pageSize {
			if err := c.mark(m.freelist + i); err != nil {
				return fmt.Errorf("freelist: %w", err)
			}
		}
	}
	if err := c.tree(m.root, nil, nil, 0); err != nil {
		return err
	}
	for id, st := range c.state {
		if st == 0 {
			return fmt.Errorf("page %d is neither in use nor free", id)
		}
	}
	return nil
}

const (
	inUse = 1
	freed = 2
)

type checker struct {
	f     *boltFile
	state []byte // per page: 0 unseen, inUse, freed
}

func (c *checker) mark(id uint64) error {
	switch c.state[id] {
	case inUse:
		return fmt.Errorf("page %d is referenced twice", id)
	case freed:
		return fmt.Errorf("page %d is in use and free", id)
	}
	c.state[id] = inUse
	return nil
}

// tree checks the b-tree at page id, whose keys are in [lo, hi).
func (c *checker) tree(id uint64, lo, hi []byte, depth int) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("page %d: tree deeper than %d", id, maxTreeDepth)
	}
	p, err := c.f.pageAt(id)
	if err != nil {
		return err
	}
	for i := range uint64(len(p)) / c.f.m.pageSize {
		if err := c.mark(id + i); err != nil {
			return err
		}
	}
	return c.page(p, id, lo, hi, depth)
}

// page checks the elements of p (a page, or an inline bucket's page) and
// what they point to.
func (c *checker) page(p []byte, id uint64, lo, hi []byte, depth int) error {
	flags, n := le.Uint16(p[8:]), uint64(le.Uint16(p[10:]))
	if flags != branchPage && flags != leafPage {
		return fmt.Errorf("page %d has type %#x, not a branch or leaf page", id, flags)
	}
	if n > (uint64(len(p))-pageHeaderSize)/elementSize {
		return fmt.Errorf("page %d counts %d elements, more than it holds", id, n)
	}
	type elem struct{ key, val []byte }
	elems := make([]elem, n)
	var child []uint64
	for i := range n {
		off := pageHeaderSize + i*elementSize
		e := p[off : off+elementSize]
		pos, ksize := uint64(le.Uint32(e[4:])), uint64(le.Uint32(e[8:]))
		vsize := uint64(le.Uint32(e[12:]))
		if flags == branchPage {
			pos, ksize, vsize = uint64(le.Uint32(e[0:])), uint64(le.Uint32(e[4:])), 0
			child = append(child, le.Uint64(e[8:]))
		}
		start := off + pos
		if start > uint64(len(p)) || ksize+vsize > uint64(len(p))-start {
			return fmt.Errorf("page %d: element %d lies outside the page", id, i)
		}
		elems[i] = elem{p[start : start+ksize], p[start+ksize : start+ksize+vsize]}
		k := elems[i].key
		switch {
		case i > 0 && bytes.Compare(elems[i-1].key, k) >= 0,
			i == 0 && lo != nil && bytes.Compare(k, lo) < 0,
			hi != nil && bytes.Compare(k, hi) >= 0:
			return fmt.Errorf("page %d: key %d out of order", id, i)
		}
	}
	for i, e := range elems {
		if flags == branchPage {
			next := hi
			if i+1 < len(elems) {
				next = elems[i+1].key
			}
			if err := c.tree(child[i], e.key, next, depth+1); err != nil {
				return err
			}
			continue
		}
		off := pageHeaderSize + uint64(i)*elementSize
		if le.Uint32(p[off:])&bucketLeafFlag == 0 {
			continue
		}
		if err := c.bucket(e.val, id, depth); err != nil {
			return err
		}
	}
	return nil
}

// bucket checks a bucket's value: its root page, or its inline page.
func (c *checker) bucket(v []byte, id uint64, depth int) error {
	if len(v) < bucketHeader {
		return fmt.Errorf("page %d: a bucket of %d bytes", id, len(v))
	}
	if root := le.Uint64(v); root != 0 {
		return c.tree(root, nil, nil, depth+1)
	}
	inline := v[bucketHeader:]
	if len(inline) < pageHeaderSize {
		return fmt.Errorf("page %d: an inline bucket of %d bytes", id, len(inline))
	}
	if depth+1 > maxTreeDepth {
		return fmt.Errorf("page %d: tree deeper than %d", id, maxTreeDepth)
	}
	return c.page(inline, id, nil, nil, depth+1)
}
