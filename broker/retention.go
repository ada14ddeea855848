package broker

// Log maintenance: one goroutine deletes the segments retention allows
// (every log.retention.check.interval.ms) and applies flush.ms (every
// log.flush.scheduler.interval.ms); a second, the log cleaner, compacts
// the logs of compacted topics (every log.cleaner.backoff.ms, when
// log.cleaner.enable). Both stop when the server's context is cancelled.

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"gregor/storage"
)

// maintenance runs the retention, flush and cleaner passes over the open
// logs of parts, on its clock.
type maintenance struct {
	cfg   LogConfig
	parts *partitions
	clock Clock
	log   zerolog.Logger
	ctx   context.Context // ends at shutdown

	retentionPasses atomic.Int64 // retention passes completed

	// cleanerBackoff is the wait between cleaner passes, read before each
	// (log.cleaner.backoff.ms is a dynamic broker config).
	cleanerBackoff func() time.Duration
}

func newMaintenance(cfg LogConfig, parts *partitions, clock Clock, log zerolog.Logger, ctx context.Context) *maintenance {
	return &maintenance{cfg: cfg, parts: parts, clock: clock, log: log, ctx: ctx,
		cleanerBackoff: func() time.Duration { return cfg.CleanerBackoff }}
}

// start starts the retention/flush loop and the log cleaner in wg.
func (m *maintenance) start(wg *sync.WaitGroup) {
	wg.Go(m.retentionLoop)
	if m.cfg.CleanerEnable {
		wg.Go(m.cleanerLoop)
	}
}

func (m *maintenance) retentionLoop() {
	retention := newTicker(m.clock, m.cfg.RetentionCheckInterval)
	defer retention.Stop()
	flush := newTicker(m.clock, m.cfg.FlushSchedulerInterval)
	defer flush.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-retention.C:
			m.enforceRetention(m.clock.Now())
		case <-flush.C:
			m.flushDue(m.clock.Now())
		}
	}
}

// enforceRetention runs one retention pass over every open log.
func (m *maintenance) enforceRetention(now time.Time) {
	start := m.clock.Now()
	total := 0
	for _, p := range m.parts.all() {
		if m.ctx.Err() != nil {
			return
		}
		if p.offline() != nil {
			continue // a failed log dir's logs are left as they are
		}
		n, err := p.log.EnforceRetention(now)
		if err != nil && !errors.Is(err, storage.ErrClosed) {
			m.log.Error().Err(err).Str("topic", p.topic).Int32("partition", p.index).Msg("retention failed")
		}
		if n > 0 {
			m.log.Info().Str("topic", p.topic).Int32("partition", p.index).Int("segments", n).
				Int64("log_start_offset", p.log.LogStartOffset()).Msg("deleted segments by retention")
		}
		total += n
	}
	if total > 0 {
		m.log.Debug().Int("segments", total).Dur("took", m.clock.Now().Sub(start)).Msg("retention pass")
	}
	m.retentionPasses.Add(1)
}

func (m *maintenance) flushDue(now time.Time) {
	for _, p := range m.parts.all() {
		if p.offline() != nil {
			continue
		}
		if err := p.log.FlushIfDue(now); err != nil && !errors.Is(err, storage.ErrClosed) {
			m.log.Error().Err(err).Str("topic", p.topic).Int32("partition", p.index).Msg("flush failed")
			if isDirFailure(err) && p.dir != nil {
				p.dir.fail(err) // an fsync error: the dir goes offline (jbod.go)
			}
		}
	}
}

// cleanerLoop compacts the logs of compacted topics that need it.
func (m *maintenance) cleanerLoop() {
	for {
		if !sleep(m.ctx, m.clock, m.cleanerBackoff()) {
			return
		}
		for _, p := range m.parts.all() {
			if m.ctx.Err() != nil {
				return
			}
			if p.offline() != nil {
				continue
			}
			st, err := p.log.Compact(m.ctx, m.clock.Now())
			if err != nil && !errors.Is(err, storage.ErrClosed) && !errors.Is(err, storage.ErrCompactionAborted) {
				m.log.Error().Err(err).Str("topic", p.topic).Int32("partition", p.index).Msg("compaction failed")
			}
			if st.Segments > 0 {
				m.log.Info().Str("topic", p.topic).Int32("partition", p.index).Int("segments", st.Segments).
					Int64("bytes_read", st.BytesRead).Int64("bytes_written", st.BytesWritten).
					Int64("records_removed", st.RecordsRemoved).Dur("took", st.Duration).Msg("compacted log")
			}
		}
	}
}
