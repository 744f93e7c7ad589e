package wafake

import (
	"context"
	"errors"
	"sync"
)

// errQueueClosed is returned by queue.pop once the queue has been closed and drained.
var errQueueClosed = errors.New("wafake: queue closed")

// queue is an unbounded FIFO safe for concurrent use. Pushing never blocks, so holding other
// locks while pushing cannot deadlock.
type queue[T any] struct {
	mu     sync.Mutex
	items  []T
	ready  chan struct{} // capacity 1: "there may be items"
	closed chan struct{}
	once   sync.Once
}

func newQueue[T any]() *queue[T] {
	return &queue[T]{ready: make(chan struct{}, 1), closed: make(chan struct{})}
}

// push appends an item. Items pushed after close are dropped; push reports whether the item was
// accepted.
func (q *queue[T]) push(item T) bool {
	select {
	case <-q.closed:
		return false
	default:
	}
	q.mu.Lock()
	q.items = append(q.items, item)
	q.mu.Unlock()
	q.signal()
	return true
}

func (q *queue[T]) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// pop waits for the next item, for ctx to end or for the queue to be closed.
func (q *queue[T]) pop(ctx context.Context) (T, error) {
	var zero T
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			item := q.items[0]
			q.items[0] = zero
			q.items = q.items[1:]
			more := len(q.items) > 0
			q.mu.Unlock()
			if more {
				q.signal()
			}
			return item, nil
		}
		q.mu.Unlock()
		select {
		case <-q.ready:
		case <-q.closed:
			return zero, errQueueClosed
		case <-ctx.Done():
			return zero, ctx.Err()
		}
	}
}

// close stops the queue: pending and future pops return errQueueClosed.
func (q *queue[T]) close() {
	q.once.Do(func() { close(q.closed) })
}
