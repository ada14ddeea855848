package controller

import (
	"fmt"
	"math"
)

// MaxProducerIDBlock bounds one AllocateProducerIDs call (Kafka's brokers
// ask for blocks of 1000).
const MaxProducerIDBlock = 1 << 20

// AllocateProducerIDs hands out n consecutive producer IDs starting at
// first (Kafka's AllocateProducerIds). Blocks never overlap, across
// restarts and leader changes: the high-water mark is replicated state.
// Needs the active controller.
func (c *Controller) AllocateProducerIDs(n int) (first int64, err error) {
	if n <= 0 || n > MaxProducerIDBlock {
		return 0, fmt.Errorf("%w: producer id block size %d must be in [1, %d]", ErrInvalidRequest, n, MaxProducerIDBlock)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.beginWriteLocked(); err != nil {
		return 0, err
	}
	first = c.snap.Load().NextProducerID
	if first > math.MaxInt64-int64(n) {
		return 0, fmt.Errorf("%w: producer ids exhausted", ErrInvalidRequest)
	}
	if err := c.commitLocked([]record{{Type: recProducerIDs, ProducerIDFirst: first, ProducerIDNext: first + int64(n)}}); err != nil {
		return 0, err
	}
	return first, nil
}
