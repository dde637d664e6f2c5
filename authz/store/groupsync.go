package store

import "sync"

// groupSync makes writes durable in groups: every caller of wait whose
// write is done gets one shared flush of the store's file system, instead
// of an fsync of its own (the replay guard's in-place updates, replay.go).
// Many concurrent verifications then share a flush, and the durable TOTP
// replay guard scales with concurrency instead of with the disk's flush
// latency (group commit).
//
// A flush covers every write that completed before it started: a caller
// that arrives while a flush runs joins the next one, which starts as soon
// as the running one ends. When wait returns nil, the caller's write
// survives a crash. Where syncfs(2) is missing, callers fsync their own
// files instead (haveSyncFS).
type groupSync struct {
	root string // a directory on the store's file system

	mu      sync.Mutex
	next    *flush // the flush that has not started yet; nil when none is wanted
	running bool   // a flusher goroutine runs
}

// flush is one shared flush and its outcome.
type flush struct {
	done chan struct{} // closed when the flush has ended
	err  error         // valid once done is closed
}

// wait returns once a flush that started after the call has ended, with
// its error.
func (g *groupSync) wait() error {
	g.mu.Lock()
	f := g.next
	if f == nil {
		f = &flush{done: make(chan struct{})}
		g.next = f
	}
	if !g.running {
		g.running = true
		go g.run()
	}
	g.mu.Unlock()
	<-f.done
	return f.err
}

// run performs flushes while callers want them.
func (g *groupSync) run() {
	for {
		g.mu.Lock()
		f := g.next
		g.next = nil
		if f == nil {
			g.running = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		f.err = syncFS(g.root)
		close(f.done)
	}
}
