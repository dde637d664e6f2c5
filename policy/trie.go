package policy

import (
	"math"
	"strings"
)

// node is one segment position in the pattern trie. A request path is
// matched by walking the trie one segment at a time; since every node is
// reached by at most one way of consuming the path, a walk visits each node
// at most once, whatever the number of rules.
type node struct {
	lit  map[string]*node // literal children, keyed by (folded) segment
	one  *node            // child for {param} and *
	end  []*entry         // rules whose pattern ends here, by Index
	rest []*entry         // rules ending in /** here: this node and below, by Index
	min  int              // lowest rule Index in this subtree, for pruning
}

func newNode() *node { return &node{min: math.MaxInt} }

// insert adds a rule's pattern below n. Rules must be inserted in Index
// order, which keeps every entry list sorted.
func (n *node) insert(segs []patternSeg, e *entry) {
	idx := e.rule.Index
	for _, s := range segs {
		n.min = min(n.min, idx)
		switch s.kind {
		case segRest:
			n.rest = append(n.rest, e)
			return
		case segOne:
			if n.one == nil {
				n.one = newNode()
			}
			n = n.one
		default:
			c := n.lit[s.lit]
			if c == nil {
				if n.lit == nil {
					n.lit = make(map[string]*node)
				}
				c = newNode()
				n.lit[s.lit] = c
			}
			n = c
		}
	}
	n.min = min(n.min, idx)
	n.end = append(n.end, e)
}

// walk matches the reading path, the part of a reading not yet consumed
// ("" or starting with "/"), against the subtree at n, recording candidates
// in q.
func (q *query) walk(n *node, path string) {
	for {
		if len(n.rest) > 0 {
			q.consider(n.rest)
		}
		for len(path) > 0 && path[0] == '/' {
			path = path[1:]
		}
		if path == "" {
			q.consider(n.end)
			return
		}
		seg, rest := path, ""
		if i := strings.IndexByte(path, '/'); i >= 0 {
			seg, rest = path[:i], path[i:]
		}
		if c := n.one; c != nil && c.min < q.best {
			q.walk(c, rest)
		}
		if q.tilde && n.lit != nil && strings.IndexByte(seg, '~') > 0 {
			q.walkShort(n, seg, rest)
		}
		c := q.child(n, seg)
		if c == nil || c.min >= q.best {
			return
		}
		n, path = c, rest
	}
}

// foldBuf is the size of the stack buffer used to fold a segment for a map
// lookup without allocating.
const foldBuf = 128

// child returns n's literal child for segment seg, folding seg first when
// the policy is case-insensitive.
func (q *query) child(n *node, seg string) *node {
	if n.lit == nil {
		return nil
	}
	if !q.fold {
		return n.lit[seg]
	}
	upper, ascii := false, true
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if 'A' <= c && c <= 'Z' {
			upper = true
		} else if c >= 0x80 {
			ascii = false
			break
		}
	}
	switch {
	case ascii && !upper:
		return n.lit[seg]
	case ascii && len(seg) <= foldBuf:
		var buf [foldBuf]byte
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			buf[i] = c
		}
		// The compiler does not allocate for a map index of string(bytes).
		return n.lit[string(buf[:len(seg)])]
	}
	return n.lit[foldString(seg)]
}
