package broker

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

// producerIDs hands out producer ids that are never reused, also across
// restarts: it persists the end of the block it hands out from before
// giving out the first id of a block, so a crash skips at most a block.
// (With a controller quorum this becomes Kafka's AllocateProducerIds.)
type producerIDs struct {
	path string

	mu   sync.Mutex
	next int64
	end  int64
}

const producerIDBlock = 1000

func openProducerIDs(path string) (*producerIDs, error) {
	p := &producerIDs{path: path}
	b, err := os.ReadFile(path)
	switch {
	case os.IsNotExist(err):
	case err != nil:
		return nil, fmt.Errorf("broker: producer ids: %w", err)
	default:
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("broker: producer ids: corrupt %s", path)
		}
		p.next, p.end = n, n
	}
	return p, nil
}

// allocate returns a fresh producer id.
func (p *producerIDs) allocate() (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next == p.end {
		end := p.end + producerIDBlock
		tmp := p.path + ".tmp"
		f, err := os.Create(tmp)
		if err != nil {
			return 0, fmt.Errorf("broker: producer ids: %w", err)
		}
		_, err = f.WriteString(strconv.FormatInt(end, 10))
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp, p.path)
		}
		if err != nil {
			return 0, fmt.Errorf("broker: producer ids: %w", err)
		}
		p.end = end
	}
	id := p.next
	p.next++
	return id, nil
}
