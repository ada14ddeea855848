package broker

import "sync"

// producerIDs hands out producer ids from blocks the controller allocates
// (AllocateProducerIds): the quorum records every block, so no id is ever
// handed out twice, across restarts and brokers.
//
// mu guards the current block only; it is never held across the
// controller round trip. One caller at a time fetches a new block
// (fetching is closed when it is done); the others wait on that channel
// and then try again.
type producerIDs struct {
	fetchBlock func(n int) (first int64, err error)

	mu       sync.Mutex
	next     int64
	end      int64
	fetching chan struct{} // non-nil while a block is being fetched
}

const producerIDBlock = 1000

// newProducerIDs returns ids from blocks of producerIDBlock that
// fetchBlock allocates (link.allocateProducerIDs).
func newProducerIDs(fetchBlock func(n int) (int64, error)) *producerIDs {
	return &producerIDs{fetchBlock: fetchBlock}
}

// allocate returns a fresh producer id.
func (p *producerIDs) allocate() (int64, error) {
	for {
		p.mu.Lock()
		if p.next < p.end {
			id := p.next
			p.next++
			p.mu.Unlock()
			return id, nil
		}
		if wait := p.fetching; wait != nil {
			p.mu.Unlock()
			<-wait
			continue
		}
		done := make(chan struct{})
		p.fetching = done
		p.mu.Unlock()

		first, err := p.fetchBlock(producerIDBlock)

		p.mu.Lock()
		p.fetching = nil
		if err == nil {
			p.next, p.end = first+1, first+producerIDBlock
		}
		p.mu.Unlock()
		close(done)
		if err != nil {
			return 0, err
		}
		return first, nil
	}
}
