package service

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// testCA is a throwaway certificate authority.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a PEM certificate and key signed by ca.
func (ca *testCA) issue(t *testing.T, serial int64, client bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "mfa-authz test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		tmpl.IPAddresses = nil
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestTLSAndMutualTLSAndRotation(t *testing.T) {
	old := certPollInterval
	certPollInterval = 50 * time.Millisecond
	t.Cleanup(func() { certPollInterval = old })

	ca := newCA(t)
	dir := t.TempDir()
	certFile, keyFile, caFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.crt")
	c1, k1 := ca.issue(t, 100, false)
	writeFile(t, certFile, c1)
	writeFile(t, keyFile, k1)
	writeFile(t, caFile, ca.pem)
	svc, _ := newTestService(t, policyA+"server:\n  tls:\n    cert_file: "+certFile+"\n    key_file: "+keyFile+
		"\n    client_ca_file: "+caFile+"\n")
	l, _ := runService(t, svc)
	addr := l.GRPC.Addr().String()

	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	cc, ck := ca.issue(t, 200, true)
	clientPair, err := tls.X509KeyPair(cc, ck)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// A gRPC client with a client certificate gets answers.
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		RootCAs: roots, Certificates: []tls.Certificate{clientPair}, MinVersion: tls.VersionTLS12})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hr, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: authv3.Authorization_ServiceDesc.ServiceName})
	if err != nil || hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health over mTLS: %v %v", hr, err)
	}
	resp, err := authv3.NewAuthorizationClient(conn).Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "GET", Path: "/carts/1", Host: "shop.example.com", Headers: map[string]string{}}}}})
	if err != nil || resp.GetOkResponse() == nil {
		t.Fatalf("check over mTLS: %v %v", resp, err)
	}

	// Without a client certificate the handshake fails.
	noCert, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		RootCAs: roots, MinVersion: tls.VersionTLS12})))
	if err != nil {
		t.Fatal(err)
	}
	defer noCert.Close()
	sctx, scancel := context.WithTimeout(ctx, 3*time.Second)
	if _, err := healthpb.NewHealthClient(noCert).Check(sctx, &healthpb.HealthCheckRequest{}); err == nil {
		t.Error("a client without a certificate was served")
	}
	scancel()

	// The HTTP listener serves TLS with the same certificate.
	serial := func(network string) int64 {
		t.Helper()
		a := addr
		if network == "http" {
			a = l.HTTP.Addr().String()
		}
		tc, err := tls.Dial("tcp", a, &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{clientPair},
			MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Fatalf("TLS dial %s: %v", network, err)
		}
		defer tc.Close()
		return tc.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	if s := serial("http"); s != 100 {
		t.Errorf("HTTP listener serves serial %d, want 100", s)
	}

	// Rewrite the files: new handshakes get the new certificate.
	c2, k2 := ca.issue(t, 101, false)
	writeFile(t, keyFile, k2)
	writeFile(t, certFile, c2)
	deadline := time.Now().Add(5 * time.Second)
	for serial("grpc") != 101 {
		if time.Now().After(deadline) {
			t.Fatal("the rotated certificate was not served within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s := serial("http"); s != 101 {
		t.Errorf("HTTP listener serves serial %d after rotation, want 101", s)
	}
	// The established connection keeps working.
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("health after rotation: %v", err)
	}
}
