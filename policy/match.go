package policy

import (
	"math"
	"strings"
)

// entry is a rule as stored in the trie, with its methods and host compiled.
type entry struct {
	rule    *Rule
	methods methodSet
	host    hostPattern

	// exact is the pattern of an "mfa: none" exception in a case-insensitive
	// policy, its literals as written (not folded), nil for every other rule. The trie compares folded segments,
	// which is right for rules requiring MFA (the strictest reading wins),
	// but an exception must exempt only what its pattern names: a case
	// variant ("/carts/1/PUBLIC" for "/carts/{id}/public") may be routed to
	// something else by a case-sensitive upstream. An exception with an
	// exact pattern therefore admits a reading only if the reading's
	// segments equal its literals as written (see matchesExactly), and a
	// case variant falls through to the rules after it.
	exact []patternSeg
}

// admitsCase reports whether e's literals admit the reading as it is
// spelled; only an exception with an exact pattern can refuse.
func (e *entry) admitsCase(reading string) bool {
	return e.exact == nil || matchesExactly(e.exact, reading)
}

// matchesExactly reports whether reading matches the pattern segs with the
// literal segments compared byte for byte, as written. It is called only for
// readings the folded trie matched to segs, but checks the whole match
// anyway, refusing whatever does not line up.
func matchesExactly(segs []patternSeg, reading string) bool {
	p := reading
	for _, s := range segs {
		for len(p) > 0 && p[0] == '/' {
			p = p[1:]
		}
		if s.kind == segRest {
			return true
		}
		seg := p
		if i := strings.IndexByte(p, '/'); i >= 0 {
			seg, p = p[:i], p[i:]
		} else {
			p = ""
		}
		if seg == "" || s.kind == segLiteral && seg != s.lit {
			return false
		}
	}
	return strings.Trim(p, "/") == ""
}

// maxHosts bounds the hosts a query considers: the request's own and those
// named by an absolute-form or scheme-relative path.
const maxHosts = 4

// query is the state of matching one request. Match keeps it on the stack.
//
// Normally the method and host are known and matching is plain first-match:
// the lowest-Index rule that admits the request decides it. When the method
// is empty or the host is unknown or ambiguous (empty, or a path naming a
// different host), each "world" the request could belong to might be decided
// by a different rule. The query then keeps, besides the first rule that
// admits every world (best), every lower-Index rule that admits some world
// (maybe), and the result is the strictest of them. That can over-protect (a
// "maybe" rule may be shadowed in every world it admits) but never
// under-protects.
type query struct {
	method  string
	mbit    methodBits
	hosts   [maxHosts]reqHost // hosts[0] is the request's own
	nhosts  int
	unknown bool // method or host not known for certain
	fold    bool // case-insensitive policy

	// short is set while a Windows short name stands for a literal (see
	// walkShort) and while a lenient reading is matched (see
	// readingSet.lenient): only rules requiring MFA are admitted then,
	// because an exception exempts only what it names, plainly spelled.
	short bool
	tilde bool // the reading has a "~", so it may hold short names

	// Per reading.
	reading string // as spelled, not folded
	best    int    // Index of rule; math.MaxInt when none
	rule    *Rule  // first rule that admits every world
	maybe   []*Rule
}

// admit reports whether e admits the request in some world (maybe) and in
// every world (sure).
func (e *entry) admit(q *query) (maybe, sure bool) {
	if q.method == "" {
		maybe, sure = true, e.methods.any
	} else {
		maybe = e.methods.has(q.method, q.mbit)
		sure = maybe
	}
	if !maybe || e.host.name == "" {
		return maybe, sure
	}
	some, all := false, true
	for _, h := range q.hosts[:q.nhosts] {
		ok := e.host.admits(h)
		some = some || ok
		all = all && ok && h.name != ""
	}
	return some, sure && all
}

// consider records the first entry of es (sorted by Index) that decides the
// request, and in an uncertain query the entries before it that might.
func (q *query) consider(es []*entry) {
	for _, e := range es {
		if e.rule.Index >= q.best {
			return
		}
		if q.short && !e.rule.MFARequired {
			continue
		}
		if !q.unknown {
			if e.methods.has(q.method, q.mbit) && e.host.admits(q.hosts[0]) && e.admitsCase(q.reading) {
				q.best, q.rule = e.rule.Index, e.rule
				return
			}
			continue
		}
		maybe, sure := e.admit(q)
		if maybe && !e.admitsCase(q.reading) {
			continue
		}
		if sure {
			q.best, q.rule = e.rule.Index, e.rule
			return
		}
		if maybe {
			q.maybe = append(q.maybe, e.rule)
		}
	}
}

// match returns the rule deciding one reading.
func (q *query) match(root *node, reading string) *Rule {
	q.reading, q.best, q.rule, q.maybe = reading, math.MaxInt, nil, q.maybe[:0]
	q.tilde = strings.IndexByte(reading, '~') >= 0
	if root.min < q.best {
		q.walk(root, reading)
	}
	res := q.rule
	for _, r := range q.maybe {
		if r.Index < q.best {
			res = Stricter(res, r)
		}
	}
	return res
}

// addHost adds a host named by the path to the query, and the reading of
// it when it is odd (see hostReading). Beyond maxHosts the host becomes
// unknown, which admits every host rule.
func (q *query) addHost(authority string) {
	q.addOneHost(authority)
	if oddHost(authority) {
		q.addOneHost(hostReading(authority))
	}
}

func (q *query) addOneHost(authority string) {
	h := parseRequestHost(authority)
	for _, o := range q.hosts[:q.nhosts] {
		if o.port == h.port && strings.EqualFold(o.name, h.name) {
			return
		}
	}
	switch {
	case q.nhosts < maxHosts-1:
		q.hosts[q.nhosts] = h
		q.nhosts++
	case q.nhosts == maxHosts-1:
		q.hosts[q.nhosts] = reqHost{}
		q.nhosts++
	}
	q.unknown = true
}

// Match returns the rule that decides a request, or nil when no rule matches
// and the request is unprotected. The caller must check MFARequired: an
// "mfa: none" exception is returned as a rule too.
//
// method is compared case-insensitively; empty stands for every method. host
// is the Host or :authority value; its port is ignored unless a rule names
// one, and empty stands for every host. rawPath is the request target as
// received, query included. The path is matched under each of its
// [Readings] and the strictest decision wins; if it has too many readings or
// is longer than 8 KiB, it is decided by the strictest rule requiring MFA
// that admits the method and host, whatever its path. In a case-insensitive
// policy only rules requiring MFA ignore case: an "mfa: none" exception
// admits a reading only as its pattern spells it.
func (p *Policy) Match(method, host, rawPath string) *Rule {
	return p.decide(method, host, rawPath, nil)
}

// MayProtect reports whether some method would make a request to host and
// rawPath require MFA. Callers use it to skip the work of finding out which
// method a request really has (override headers, _method parameters) when
// no method could matter.
func (p *Policy) MayProtect(host, rawPath string) bool {
	r := p.decide("", host, rawPath, nil)
	return r != nil && r.MFARequired
}

// Explanation tells how a request was decided.
type Explanation struct {
	// Readings are the normalized readings of the path that were matched,
	// spelled as in the request: a case-insensitive policy folds them when
	// comparing them with rules that require MFA, while "mfa: none"
	// exceptions compare them as they are. It is empty when the path
	// exceeded the normalization limits and the request was decided without
	// looking at its path.
	Readings []string

	// Rule is the deciding rule, as Match returns it.
	Rule *Rule
}

// Explain returns the readings of rawPath and the rule deciding the request;
// the rule is always the one Match returns.
func (p *Policy) Explain(method, host, rawPath string) Explanation {
	var rec []string
	r := p.decide(method, host, rawPath, &rec)
	return Explanation{Readings: rec, Rule: r}
}

// decide implements Match, recording the readings in rec when it is not nil.
func (p *Policy) decide(method, host, rawPath string, rec *[]string) *Rule {
	q := query{method: method, mbit: methodBit(method), fold: p.caseInsensitive, nhosts: 1}
	q.hosts[0] = parseRequestHost(host)
	q.unknown = method == "" || q.hosts[0].name == ""
	if oddHost(host) {
		// An upstream may read it as another host: match that one too.
		q.addOneHost(hostReading(host))
	}

	var res *Rule
	var clean [2]string
	if n := cleanReadings(rawPath, &clean, p.frontControllers, p.fcMask); n > 0 {
		for _, r := range clean[:n] {
			res = Stricter(res, q.match(p.root, r))
		}
		if rec != nil {
			*rec = append(*rec, clean[:n]...)
		}
		return res
	}

	rs := readingSet{fc: p.frontControllers}
	rs.build(rawPath)
	if rs.overflow {
		if namesHost(rawPath) {
			q.addHost("") // the unread path might name any host
		}
		return p.strictest(&q)
	}
	for _, h := range rs.hosts {
		q.addHost(h)
	}
	for i, r := range rs.paths {
		q.short = rs.lenient[i]
		res = Stricter(res, q.match(p.root, r))
	}
	if rec != nil {
		*rec = append(*rec, rs.paths...)
	}
	return res
}

// strictest decides a request whose path could not be read: by the
// strictest rule requiring MFA that admits the method and host in some
// world, as if every path pattern matched.
func (p *Policy) strictest(q *query) *Rule {
	for _, e := range p.strict {
		if maybe, _ := e.admit(q); maybe {
			return e.rule
		}
	}
	return nil
}
