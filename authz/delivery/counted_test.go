package delivery

import (
	"context"
	"errors"
	"testing"
)

type senderFunc func(context.Context, Message) error

func (f senderFunc) Send(ctx context.Context, m Message) error { return f(ctx, m) }

// Counted reports each send's outcome once, after the send, and returns
// the sender's own error unchanged.
func TestCounted(t *testing.T) {
	refused := errors.New("550 mailbox unavailable")
	var outcomes []error
	s := Counted(senderFunc(func(_ context.Context, m Message) error {
		if m.Code == "000000" {
			return refused
		}
		return nil
	}), func(err error) { outcomes = append(outcomes, err) })
	if err := s.Send(context.Background(), Message{Code: "123456"}); err != nil {
		t.Fatalf("send: %v", err)
	}
	if err := s.Send(context.Background(), Message{Code: "000000"}); !errors.Is(err, refused) {
		t.Fatalf("send: %v, want the sender's error", err)
	}
	if len(outcomes) != 2 || outcomes[0] != nil || !errors.Is(outcomes[1], refused) {
		t.Errorf("outcomes %v, want [nil, %v]", outcomes, refused)
	}
}
