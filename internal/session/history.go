package session

import "github.com/wagate/wagate/internal/wa"

// ChunkHistory splits a history sync into chunks of at most max messages,
// keeping chat order and message order; a chat larger than max is split
// across chunks (each part carries the chat's name and unread count). Chats
// without messages ride along in the current chunk.
func ChunkHistory(chats []wa.HistoryChat, max int) [][]wa.HistoryChat {
	if max <= 0 {
		max = MaxHistoryChunk
	}
	var out [][]wa.HistoryChat
	var cur []wa.HistoryChat
	n := 0
	flush := func() {
		if len(cur) > 0 {
			out = append(out, cur)
		}
		cur, n = nil, 0
	}
	for _, c := range chats {
		msgs := c.Messages
		if len(msgs) == 0 {
			cur = append(cur, c)
			continue
		}
		for len(msgs) > 0 {
			if n == max {
				flush()
			}
			take := min(max-n, len(msgs))
			part := c
			part.Messages = msgs[:take:take]
			cur = append(cur, part)
			n += take
			msgs = msgs[take:]
		}
	}
	flush()
	return out
}
