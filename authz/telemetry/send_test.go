package telemetry

import (
	"errors"
	"testing"
)

// SendOutcome counts sends and failures under the configured sender's
// name, and any unknown name as "other", never a user's destination.
func TestSendOutcome(t *testing.T) {
	m := New(nil, "test")
	smtp, hook := m.SendOutcome("smtp"), m.SendOutcome("https://hooks.example.com/?token=secret")
	smtp(nil)
	smtp(nil)
	smtp(errors.New("421 try later"))
	hook(nil)
	for _, c := range []struct {
		sender       string
		sent, failed float64
	}{{"smtp", 2, 1}, {"other", 1, 0}, {"webhook", 0, 0}, {"file", 0, 0}} {
		sent := counterValue(m.codesSent.WithLabelValues(c.sender))
		failed := counterValue(m.sendFailures.WithLabelValues(c.sender))
		if sent != c.sent || failed != c.failed {
			t.Errorf("sender %s: sent %v, failed %v; want %v, %v", c.sender, sent, failed, c.sent, c.failed)
		}
	}
}
