package revoked

import "sync/atomic"

// table is an open-addressing hash table (linear probing) whose lookups take no lock. One
// writer at a time (the shard's mutex) fills a slot's key last, so a reader that sees the key
// sees the rest; growing or compacting builds a new table and swaps the shard's pointer, so a
// reader works on either the old table or the new one, each consistent. Deleted slots become
// tombstones until the next rebuild.
type table struct {
	slots []slot
	mask  uint64
	used  int // live entries (writer only)
	dead  int // tombstones (writer only)
}

// slot is 24 bytes: the 128-bit key and the Unix second the entry lasts until.
type slot struct{ k0, k1, until atomic.Uint64 }

// k0 values 0 and 1 mark empty and deleted slots; keys whose k0 falls there are moved up
// (k1 still tells them apart).
const (
	emptyK0 = 0
	deadK0  = 1
	minSize = 16
)

func slotK0(k uint64) uint64 {
	if k <= deadK0 {
		return k + 2
	}
	return k
}

func newTable(size int) *table {
	n := minSize
	for n < size {
		n *= 2
	}
	return &table{slots: make([]slot, n), mask: uint64(n - 1)}
}

// find returns the slot holding key, or nil. Safe without the lock.
func (t *table) find(key entryKey) *slot {
	k0 := slotK0(key[0])
	i := key[1] & t.mask
	for range t.slots {
		s := &t.slots[i]
		switch c := s.k0.Load(); {
		case c == emptyK0:
			return nil
		case c == k0 && s.k1.Load() == key[1]:
			return s
		}
		i = (i + 1) & t.mask
	}
	return nil
}

// insert fills the first empty slot of key's probe sequence (writer only; the key is absent
// and the table has room).
func (t *table) insert(key entryKey, until uint64) {
	i := key[1] & t.mask
	for t.slots[i].k0.Load() != emptyK0 {
		i = (i + 1) & t.mask
	}
	s := &t.slots[i]
	s.k1.Store(key[1])
	s.until.Store(until)
	s.k0.Store(slotK0(key[0])) // last: publishes the slot
	t.used++
}

// rebuilt returns a new table with the live entries, sized so it is at most half full.
func (t *table) rebuilt(extra int) *table {
	nt := newTable(2 * (t.used + extra))
	for i := range t.slots {
		s := &t.slots[i]
		if k0 := s.k0.Load(); k0 > deadK0 {
			// slotK0 is idempotent on stored values, so the stored k0 is reinserted as is.
			nt.insert(entryKey{k0, s.k1.Load()}, s.until.Load())
		}
	}
	return nt
}

// full reports whether one more entry would take the table past three quarters (counting
// tombstones, which lengthen probes just the same).
func (t *table) full() bool { return (t.used+t.dead+1)*4 > len(t.slots)*3 }
