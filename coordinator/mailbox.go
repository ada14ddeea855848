package coordinator

import "context"

// mailbox is the inbox of a shard's goroutine: functions posted to it run
// one at a time on that goroutine (serve) until its context ends. Both
// kinds of shard embed one.
type mailbox struct {
	in     chan func()
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed by the shard goroutine when it returns
}

func newMailbox(parent context.Context) mailbox {
	ctx, cancel := context.WithCancel(parent)
	return mailbox{in: make(chan func(), 64), ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// serve runs posted functions until the context ends.
func (m *mailbox) serve() {
	for {
		select {
		case <-m.ctx.Done():
			return
		case f := <-m.in:
			f()
		}
	}
}

// post runs f on the shard goroutine; false if the shard stopped.
func (m *mailbox) post(f func()) bool {
	select {
	case m.in <- f:
		return true
	case <-m.ctx.Done():
		return false
	}
}

// call runs f on the shard goroutine and waits for it to return.
func (m *mailbox) call(ctx context.Context, f func()) error {
	done := make(chan struct{})
	select {
	case m.in <- func() { f(); close(done) }:
	case <-m.ctx.Done():
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once posted, f runs to its end before call returns (or never, if
	// the shard stops first), ctx or not: f writes its results into the
	// caller's variables, and a caller that returned at ctx's end read
	// them while the shard wrote them (a race seen on TxnOffsetCommit).
	select {
	case <-done:
		return nil
	case <-m.done: // f either ran (done is closed) or never will
		select {
		case <-done:
			return nil
		default:
			return ErrClosed
		}
	}
}
