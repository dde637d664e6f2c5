package store

import (
	"bufio"
	"context"
	"fmt"
	"testing"
	"time"
)

// A process killed at any moment while it verifies codes for several users
// at once leaves a store in which every code it reported as accepted is
// still used: the same step is a replay after a restart, and every user's
// replay guard is readable. SIGKILL stands in for a crash of the process;
// the slots (replay.go) are what keeps a write torn by a power loss from
// damaging the step in force (TestReplaySlots).
func TestCrashKeepsAcceptedStepsUsed(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs child processes")
	}
	dir, key := t.TempDir(), testKey(7)
	acked := map[int]uint64{} // user → greatest step reported accepted
	from := uint64(1)
	for round := range 5 {
		cmd := helperCommand(t, dir, key, fmt.Sprint("crash:", from))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan [2]uint64, 1024)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				var u, step uint64
				if _, err := fmt.Sscan(sc.Text(), &u, &step); err == nil {
					lines <- [2]uint64{u, step}
				}
			}
		}()
		// Kill after a few dozen accepted steps, at a moment that varies
		// from round to round.
		want := 20 + 15*round
		deadline := time.After(20 * time.Second)
	read:
		for n := 0; n < want; {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("round %d: the helper exited after %d steps: %v", round, n, cmd.Wait())
				}
				acked[int(l[0])] = max(acked[int(l[0])], l[1])
				n++
			case <-deadline:
				break read
			}
		}
		_ = cmd.Process.Kill()
		for l := range lines { // what it printed before dying was accepted too
			acked[int(l[0])] = max(acked[int(l[0])], l[1])
		}
		_ = cmd.Wait()

		d, err := OpenDir(dir, key)
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		for u, step := range acked {
			ok, err := d.UseTOTPStep(context.Background(), fmt.Sprint("crash-user-", u), step)
			if err != nil || ok {
				t.Fatalf("round %d: user %d step %d, reported accepted before the kill, is accepted again (ok=%t, err=%v)", round, u, step, ok, err)
			}
			// A step written but not yet reported may have been kept too:
			// the next round starts well past it.
			from = max(from, step+1000)
		}
		d.Close()
	}
	if len(acked) != crashUsers {
		t.Errorf("steps accepted for %d users, want %d", len(acked), crashUsers)
	}
}
