package broker

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// producerIDs hands out producer ids from blocks the controller allocates
// (AllocateProducerIds): the quorum records every block, so no id is ever
// handed out twice, across restarts and brokers.
type producerIDs struct {
	s *Server

	mu   sync.Mutex
	next int64
	end  int64
}

const producerIDBlock = 1000

// allocate returns a fresh producer id.
func (p *producerIDs) allocate() (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next == p.end {
		first, err := p.s.allocateProducerIDBlock()
		if err != nil {
			return 0, err
		}
		p.next, p.end = first, first+producerIDBlock
	}
	id := p.next
	p.next++
	return id, nil
}

func (s *Server) allocateProducerIDBlock() (int64, error) {
	if !s.clustered() || s.ctrl.IsLeader() {
		return s.ctrl.AllocateProducerIDs(producerIDBlock)
	}
	req := kmsg.NewPtrAllocateProducerIDsRequest()
	req.BrokerID = s.cfg.NodeID
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	resp, err := s.toController(ctx, req)
	if err != nil {
		return 0, err
	}
	ar := resp.(*kmsg.AllocateProducerIDsResponse)
	if ar.ErrorCode != 0 {
		return 0, kerr.ErrorForCode(ar.ErrorCode)
	}
	return ar.ProducerIDStart, nil
}
