package session

import "context"

// EventQueue delivers a client's sink calls one at a time, in the order
// they were queued, on a goroutine of its own: the manager sees a session's
// events in the order they happened, and no provider lock is held while the
// sink writes to the database. Providers without their own event ordering
// (the simulator, the Cloud API) use it.
type EventQueue struct {
	ctx    context.Context
	cancel context.CancelFunc
	events chan func()
	done   chan struct{}
}

// NewEventQueue starts a queue; Close stops it.
func NewEventQueue() *EventQueue {
	ctx, cancel := context.WithCancel(context.Background())
	q := &EventQueue{ctx: ctx, cancel: cancel, events: make(chan func(), 256), done: make(chan struct{})}
	go q.loop()
	return q
}

// Context ends when the queue is closed; a client's background work derives
// from it so closing the client stops that work too.
func (q *EventQueue) Context() context.Context { return q.ctx }

func (q *EventQueue) loop() {
	defer close(q.done)
	for {
		select {
		case <-q.ctx.Done():
			return
		case fn := <-q.events:
			fn()
		}
	}
}

// Emit queues fn; after Close it is dropped.
func (q *EventQueue) Emit(fn func()) {
	select {
	case q.events <- fn:
	case <-q.ctx.Done():
	}
}

// Close stops the queue and waits for a call in progress to return.
func (q *EventQueue) Close() {
	q.cancel()
	<-q.done
}
