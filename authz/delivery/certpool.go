package delivery

import "crypto/x509"

func newCertPool() *x509.CertPool { return x509.NewCertPool() }
