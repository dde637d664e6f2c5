package envoytest

import (
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
)

// Received is one request as the upstream behind the proxy saw it.
type Received struct {
	Method string
	// Target is the request target as sent on the wire (RequestURI).
	Target string
	Host   string
	Header http.Header
	Body   []byte
}

// Upstream is the service behind the proxy in a test: it answers every
// request 200 with the body "upstream ok\n" and records what it received.
type Upstream struct {
	// Addr is the loopback host:port it listens on.
	Addr string
	srv  *http.Server
	mu   sync.Mutex
	got  []Received
}

// UpstreamBody is what Upstream answers to every request.
const UpstreamBody = "upstream ok\n"

// StartUpstream starts an Upstream on a free loopback port; it is closed
// when t ends.
func StartUpstream(t testing.TB) *Upstream {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &Upstream{Addr: l.Addr().String()}
	u.srv = &http.Server{Handler: http.HandlerFunc(u.serve)}
	go func() { _ = u.srv.Serve(l) }()
	t.Cleanup(func() { _ = u.srv.Close() })
	return u
}

func (u *Upstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	u.mu.Lock()
	u.got = append(u.got, Received{Method: r.Method, Target: r.RequestURI, Host: r.Host, Header: r.Header.Clone(), Body: body})
	u.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, UpstreamBody)
}

// Requests returns a copy of every request received so far, in order.
func (u *Upstream) Requests() []Received {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Received(nil), u.got...)
}

// Reset forgets the requests received so far.
func (u *Upstream) Reset() {
	u.mu.Lock()
	u.got = nil
	u.mu.Unlock()
}
