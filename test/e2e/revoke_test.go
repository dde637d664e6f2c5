package e2e

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
)

// `user reset` while the server runs on the embedded store ends the session
// the server granted: within a few seconds the next protected request is
// not let through on the session any more.
func TestUserResetEndsRunningSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cfgOpts{})
	f := enrollJSON(t, e.cfg, "gina")
	s := startServer(t, e)
	s.expectAllowed(t, s.check(t, protected("gina", f.codeAt(t, f.step())).build(t)), "totp")
	s.expectAllowed(t, s.check(t, protected("gina", "").build(t)), "totp") // the session

	res := runCLI(t, "user", "reset", "--user", "gina", "--config", e.cfg)
	want := "Disabled all MFA factors and recovery codes of user \"gina\".\n" +
		"Ended the session of user \"gina\" (a running server drops it within a second).\n"
	if res.code != 0 || res.stdout != want {
		t.Fatalf("user reset: want exit 0 and %q\n%s", want, res)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		resp := s.check(t, protected("gina", "").build(t))
		if codes.Code(resp.GetStatus().GetCode()) != codes.OK || time.Now().After(deadline) {
			s.expectDenied(t, resp, deny403(glueNotEnrolled))
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
