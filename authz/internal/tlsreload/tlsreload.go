// Package tlsreload serves TLS from certificate files that may be replaced
// while the server runs: the key pair (and the client CA bundle, for
// mutual TLS) is read at start and re-read whenever the files change, and
// every new handshake uses the pair in force. A rewrite that does not
// parse (for example a certificate written before its key) is reported
// and the previous pair keeps serving until the files are whole again.
package tlsreload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Files names the PEM files to serve.
type Files struct {
	CertFile, KeyFile string
	// ClientCAFile, when set, requires and verifies client certificates.
	ClientCAFile string
}

// Reloader holds the current server TLS configuration.
type Reloader struct {
	files Files
	// OnLoad, when set before Watch, is called after every reload attempt
	// that found changed files: err is nil on success, and notAfter is the
	// new leaf certificate's expiry.
	OnLoad func(notAfter time.Time, err error)

	mu   sync.Mutex        // serializes reloads
	seen [sha256.Size]byte // the files' content last tried, good or bad
	conf atomic.Pointer[tls.Config]
}

// New loads the files; an error names the file that failed.
func New(f Files) (*Reloader, error) {
	if f.CertFile == "" || f.KeyFile == "" {
		return nil, errors.New("tls: cert_file and key_file are required")
	}
	r := &Reloader{files: f}
	if _, _, err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// ServerConfig returns the tls.Config to serve with: every handshake gets
// the key pair and client CAs in force at that moment. nextProtos are the
// ALPN protocols to offer ("h2" for gRPC).
func (r *Reloader) ServerConfig(nextProtos ...string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: nextProtos,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			c := r.conf.Load().Clone()
			if len(nextProtos) > 0 {
				c.NextProtos = nextProtos
			}
			return c, nil
		},
	}
}

// Certificate returns the leaf certificate in force.
func (r *Reloader) Certificate() *x509.Certificate {
	return r.conf.Load().Certificates[0].Leaf
}

// Reload re-reads the files. changed reports whether their content
// differed from the pair in force; on an error the old pair stays.
func (r *Reloader) Reload() (changed bool, notAfter time.Time, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	certPEM, err := os.ReadFile(r.files.CertFile)
	if err != nil {
		return false, time.Time{}, fmt.Errorf("server.tls.cert_file: %w", err)
	}
	keyPEM, err := os.ReadFile(r.files.KeyFile)
	if err != nil {
		return false, time.Time{}, fmt.Errorf("server.tls.key_file: %w", err)
	}
	var caPEM []byte
	if r.files.ClientCAFile != "" {
		if caPEM, err = os.ReadFile(r.files.ClientCAFile); err != nil {
			return false, time.Time{}, fmt.Errorf("server.tls.client_ca_file: %w", err)
		}
	}
	h := sha256.New()
	for _, b := range [][]byte{certPEM, keyPEM, caPEM} {
		fmt.Fprintf(h, "%d:", len(b))
		h.Write(b)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	cur := r.conf.Load()
	if cur != nil && bytes.Equal(sum[:], r.seen[:]) {
		// Unchanged since the last try: report nothing new, whether that
		// try succeeded or not.
		return false, cur.Certificates[0].Leaf.NotAfter, nil
	}
	r.seen = sum
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return true, time.Time{}, fmt.Errorf("server.tls: cert_file and key_file: %w", err)
	}
	if pair.Leaf == nil {
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return true, time.Time{}, fmt.Errorf("server.tls.cert_file: %w", err)
		}
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	if caPEM != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return true, time.Time{}, errors.New("server.tls.client_ca_file: no PEM certificate found")
		}
		c.ClientCAs = pool
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	r.conf.Store(c)
	return true, pair.Leaf.NotAfter, nil
}

// Watch re-reads the files every interval until ctx ends, reporting each
// change to OnLoad.
func (r *Reloader) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			changed, notAfter, err := r.Reload()
			if changed && r.OnLoad != nil {
				r.OnLoad(notAfter, err)
			}
		}
	}
}
