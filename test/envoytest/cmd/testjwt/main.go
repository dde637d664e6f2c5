// Command testjwt prints a bearer token that envoy/envoy.yaml's jwt_authn
// accepts, for trying mfa-authz behind the shipped Envoy by hand:
//
//	curl -H "Authorization: Bearer $(go run ./test/envoytest/cmd/testjwt alice)" ...
//
// It signs with envoy/test-jwt-key.pem, a PUBLICLY KNOWN test key: anyone
// can mint such tokens, so a deployment must never trust that key.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/mfa-authz/mfa-authz/test/envoytest"
)

func main() {
	if len(os.Args) != 2 || os.Args[1] == "" || os.Args[1][0] == '-' {
		fmt.Fprintln(os.Stderr, "usage: testjwt USER  (prints a token for sub USER, valid for two hours)")
		os.Exit(2)
	}
	root, err := envoytest.FindRoot()
	if err == nil {
		var s *envoytest.Signer
		if s, err = envoytest.NewSigner(root); err == nil {
			var tok string
			if tok, err = s.Token(envoytest.Claims(os.Args[1], time.Now())); err == nil {
				fmt.Println(tok)
				return
			}
		}
	}
	fmt.Fprintln(os.Stderr, "testjwt:", err)
	os.Exit(1)
}
