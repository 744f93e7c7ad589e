package session

import (
	"fmt"
	"testing"

	"github.com/wagate/wagate/internal/wa"
)

func historyChat(jid string, n int) wa.HistoryChat {
	c := wa.HistoryChat{ChatJID: jid, Name: "n-" + jid}
	for i := range n {
		c.Messages = append(c.Messages, wa.Message{MessageID: fmt.Sprintf("%s-%d", jid, i)})
	}
	return c
}

func TestChunkHistory(t *testing.T) {
	t.Parallel()
	chats := []wa.HistoryChat{historyChat("a", 3), historyChat("b", 0), historyChat("c", 8), historyChat("d", 1)}
	chunks := ChunkHistory(chats, 5)
	var sizes []int
	var order []string
	for _, ch := range chunks {
		n := 0
		for _, c := range ch {
			n += len(c.Messages)
			for _, m := range c.Messages {
				order = append(order, m.MessageID)
			}
			if c.Name != "n-"+c.ChatJID {
				t.Errorf("part of %s lost its name", c.ChatJID)
			}
		}
		sizes = append(sizes, n)
	}
	if fmt.Sprint(sizes) != "[5 5 2]" {
		t.Fatalf("chunk sizes = %v", sizes)
	}
	want := []string{"a-0", "a-1", "a-2", "c-0", "c-1", "c-2", "c-3", "c-4", "c-5", "c-6", "c-7", "d-0"}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Fatalf("order = %v", order)
	}
	if len(ChunkHistory(nil, 5)) != 0 {
		t.Fatal("no chats, no chunks")
	}
	big := ChunkHistory([]wa.HistoryChat{historyChat("x", 1200)}, 0)
	if len(big) != 3 || len(big[0][0].Messages) != MaxHistoryChunk || len(big[2][0].Messages) != 200 {
		t.Fatalf("default chunking of 1200 messages: %d chunks", len(big))
	}
}
