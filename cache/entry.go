package cache

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// entry is a cached session, packed small: the cache holds one per user
// in its grace period, and a million of them must fit in a few hundred
// bytes each, ristretto's own bookkeeping included (see
// TestMillionSessionsMemory). A time.Time and two strings would take 56
// bytes; this takes 16.
type entry struct {
	// at is VerifiedAt in Unix nanoseconds. Grace periods compare wall
	// clocks, so the monotonic reading a time.Now carries is not kept.
	at int64
	// recMethod holds, above the low byte, recHash of the shared level's
	// record the session was decoded from (see Keep and Match; 0 for a
	// session cached by Put), and in the low byte the factor's index in the
	// method table (see methodIndex).
	recMethod uint64
}

func (e entry) session() Session {
	return Session{VerifiedAt: time.Unix(0, e.at), Method: methodName(uint8(e.recMethod))}
}

// rec returns the record hash part of recMethod.
func (e entry) rec() uint64 { return e.recMethod &^ 0xff }

// recSeed keys recHash per process, so that no one can make two shared
// records collide: Match then tells records apart as surely as by
// comparing them, without keeping a copy of each in memory.
var recSeed = maphash.MakeSeed()

// recHash returns rec's keyed hash in the upper 56 bits, never 0 (which
// stands for no record); the low byte is 0.
func recHash(rec string) uint64 {
	if h := maphash.String(recSeed, rec) &^ 0xff; h != 0 {
		return h
	}
	return 0x100
}

// The method table: the factor names sessions were verified with ("totp",
// "email", …), each stored once. There are a handful, so an entry names
// its method by a one-byte index.
var (
	methodsMu sync.Mutex
	methods   atomic.Pointer[[]string] // read without the lock; replaced whole on growth
)

// maxMethods bounds the table: an index is one byte.
const maxMethods = 256

// methodIndex returns name's index in the table, adding it if new; ok is
// false when the table is full (the session is then not cached, and the
// user asked for a code again: the safe side).
func methodIndex(name string) (idx uint8, ok bool) {
	if t := methods.Load(); t != nil {
		for i, m := range *t {
			if m == name {
				return uint8(i), true
			}
		}
	}
	methodsMu.Lock()
	defer methodsMu.Unlock()
	var cur []string
	if t := methods.Load(); t != nil {
		cur = *t
	}
	for i, m := range cur {
		if m == name {
			return uint8(i), true
		}
	}
	if len(cur) >= maxMethods {
		return 0, false
	}
	next := append(append(make([]string, 0, len(cur)+1), cur...), name)
	methods.Store(&next)
	return uint8(len(cur)), true
}

// methodName returns the name at index i of the table.
func methodName(i uint8) string {
	if t := methods.Load(); t != nil && int(i) < len(*t) {
		return (*t)[i]
	}
	return ""
}

// newEntry packs sess, decoded from the shared record rec ("" for none).
func newEntry(sess Session, rec string) (entry, bool) {
	m, ok := methodIndex(sess.Method)
	if !ok {
		return entry{}, false
	}
	e := entry{at: sess.VerifiedAt.UnixNano(), recMethod: uint64(m)}
	if rec != "" {
		e.recMethod |= recHash(rec)
	}
	return e, true
}
