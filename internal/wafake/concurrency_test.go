package wafake_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/wagate/wagate/internal/wafake"
)

// inParallel runs fn for 0..count-1 in goroutines (not parallel subtests, whose concurrency is
// capped by -parallel) and fails the test with every error.
func inParallel(t *testing.T, phase string, count int, fn func(i int) error) {
	t.Helper()
	errs := make([]error, count)
	var wg sync.WaitGroup
	for i := range count {
		wg.Go(func() {
			if err := fn(i); err != nil {
				errs[i] = fmt.Errorf("%s %d: %w", phase, i, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// TestManyClients links 20 clients at once (each to its own phone) and has them message a shared
// contact, each other (client i writes to client i+1) and receive from the contact, concurrently.
func TestManyClients(t *testing.T) {
	// Not parallel: CPU-heavy, it would starve (and be starved by) the other tests.
	const count = 20
	n := newNetwork(t, wafake.Config{ShortPreKeyUpload: true})
	contact := n.NewContact("+15559990000")
	phones := make([]*wafake.Phone, count)
	clients := make([]*testClient, count)
	jids := make([]types.JID, count)
	for i := range count {
		phones[i] = n.NewPhone(fmt.Sprintf("+1555100%04d", i))
		clients[i] = newClient(t, n)
	}

	inParallel(t, "pair", count, func(i int) (err error) {
		jids[i], err = tryPair(clients[i], phones[i])
		return err
	})

	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	defer cancel()
	inParallel(t, "message", count, func(i int) error {
		tc, next := clients[i], jids[(i+1)%count].ToNonAD()
		for _, to := range []types.JID{contact.JID(), next} {
			text := fmt.Sprintf("from %d to %s", i, to.User)
			if _, err := tc.SendMessage(ctx, to, &waE2E.Message{Conversation: proto.String(text)}); err != nil {
				return fmt.Errorf("send to %s: %w", to, err)
			}
		}
		if _, err := contact.SendText(ctx, jids[i].ToNonAD(), fmt.Sprintf("contact to %d", i)); err != nil {
			return fmt.Errorf("contact send: %w", err)
		}
		prev := (i + count - 1) % count
		want := map[string]types.JID{
			fmt.Sprintf("from %d to %s", prev, jids[i].User): jids[prev],
			fmt.Sprintf("contact to %d", i):                  contact.JID(),
		}
		for len(want) > 0 {
			msg, err := waitFor[*events.Message](tc.events, nil)
			if err != nil {
				return fmt.Errorf("still waiting for %v: %w", want, err)
			}
			text := msg.Message.GetConversation()
			if sender, ok := want[text]; !ok || msg.Info.Sender != sender {
				return fmt.Errorf("got %q from %s", text, msg.Info.Sender)
			}
			delete(want, text)
		}
		return nil
	})

	seen := make(map[string]bool)
	for range count {
		msg, err := contact.WaitMessage(ctx)
		if err != nil {
			t.Fatalf("contact got %d of %d messages: %v", len(seen), count, err)
		}
		seen[msg.Text()] = true
	}
	for i := range count {
		if text := fmt.Sprintf("from %d to %s", i, contact.JID().User); !seen[text] {
			t.Errorf("contact missed %q", text)
		}
	}
}
