package factor

import "fmt"

// Registry is the set of factors a server offers, in preference order. It
// is built once by newRegistry and never changes afterwards, so every
// method is safe for concurrent use without locks.
type Registry struct {
	list   []Factor
	byName map[string]Factor
	names  []string
	// longest is the longest "<name> <submission>" of a Bounded factor,
	// 0 when none is registered.
	longest int
}

// newRegistry returns a registry of fs in preference order. Names must be
// non-empty, lower-case, without spaces, and distinct.
func newRegistry(fs ...Factor) (*Registry, error) {
	r := &Registry{byName: make(map[string]Factor, len(fs))}
	for _, f := range fs {
		n := f.Name()
		if n == "" || !validName(n) {
			return nil, fmt.Errorf("factor: invalid name %q", n)
		}
		if _, dup := r.byName[n]; dup {
			return nil, fmt.Errorf("factor: %q registered twice", n)
		}
		r.byName[n] = f
		r.list = append(r.list, f)
		r.names = append(r.names, n)
		if b, ok := f.(Bounded); ok {
			r.longest = max(r.longest, len(n)+1+b.MaxLength())
		}
	}
	return r, nil
}

// MustRegistry is newRegistry for a fixed list known to be valid; it panics
// otherwise.
func MustRegistry(fs ...Factor) *Registry {
	r, err := newRegistry(fs...)
	if err != nil {
		panic(err)
	}
	return r
}

func validName(n string) bool {
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Lookup returns the factor called name.
func (r *Registry) Lookup(name string) (Factor, bool) {
	f, ok := r.byName[name]
	return f, ok
}

// Factors returns the factors in preference order. The slice is shared:
// callers must not modify it.
func (r *Registry) Factors() []Factor { return r.list }

// Names returns the factors' names in preference order. The slice is
// shared: callers must not modify it.
func (r *Registry) Names() []string { return r.names }

// Longest returns the length of the longest MFA header value a Bounded
// factor accepts ("<name> <submission>"), 0 when no factor is Bounded.
func (r *Registry) Longest() int { return r.longest }
