package broker

// Log maintenance: one goroutine deletes the segments retention allows
// (every log.retention.check.interval.ms) and applies flush.ms (every
// log.flush.scheduler.interval.ms); a second, the log cleaner, compacts
// the logs of compacted topics (every log.cleaner.backoff.ms, when
// log.cleaner.enable). Both stop when the server's context is cancelled.

import (
	"errors"
	"time"

	"gregor/storage"
)

// startLogMaintenance starts the retention/flush loop and the log cleaner.
func (s *Server) startLogMaintenance() {
	s.goroutine(s.retentionLoop)
	if s.cfg.Log.CleanerEnable {
		s.goroutine(s.cleanerLoop)
	}
}

func (s *Server) retentionLoop() {
	retention := time.NewTicker(s.cfg.Log.RetentionCheckInterval)
	defer retention.Stop()
	flush := time.NewTicker(s.cfg.Log.FlushSchedulerInterval)
	defer flush.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-retention.C:
			s.enforceRetention(time.Now())
		case <-flush.C:
			s.flushDue(time.Now())
		}
	}
}

// openPartitions returns the partitions with an open log.
func (ps *partitions) openPartitions() []*partition {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	out := make([]*partition, 0, len(ps.m))
	for _, p := range ps.m {
		out = append(out, p)
	}
	return out
}

// enforceRetention runs one retention pass over every open log.
func (s *Server) enforceRetention(now time.Time) {
	start := time.Now()
	total := 0
	for _, p := range s.parts.openPartitions() {
		if s.ctx.Err() != nil {
			return
		}
		n, err := p.log.EnforceRetention(now)
		if err != nil && !errors.Is(err, storage.ErrClosed) {
			s.log.Error().Err(err).Str("topic", p.topic).Int32("partition", p.index).Msg("retention failed")
		}
		if n > 0 {
			s.log.Info().Str("topic", p.topic).Int32("partition", p.index).Int("segments", n).
				Int64("log_start_offset", p.log.LogStartOffset()).Msg("deleted segments by retention")
		}
		total += n
	}
	if total > 0 {
		s.log.Debug().Int("segments", total).Dur("took", time.Since(start)).Msg("retention pass")
	}
}

func (s *Server) flushDue(now time.Time) {
	for _, p := range s.parts.openPartitions() {
		if err := p.log.FlushIfDue(now); err != nil && !errors.Is(err, storage.ErrClosed) {
			s.log.Error().Err(err).Str("topic", p.topic).Int32("partition", p.index).Msg("flush failed")
		}
	}
}

// cleanerLoop compacts the logs of compacted topics that need it.
func (s *Server) cleanerLoop() {
	t := time.NewTicker(s.cfg.Log.CleanerBackoff)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		for _, p := range s.parts.openPartitions() {
			if s.ctx.Err() != nil {
				return
			}
			st, err := p.log.Compact(s.ctx, time.Now())
			if err != nil && !errors.Is(err, storage.ErrClosed) && !errors.Is(err, storage.ErrCompactionAborted) {
				s.log.Error().Err(err).Str("topic", p.topic).Int32("partition", p.index).Msg("compaction failed")
			}
			if st.Segments > 0 {
				s.log.Info().Str("topic", p.topic).Int32("partition", p.index).Int("segments", st.Segments).
					Int64("bytes_read", st.BytesRead).Int64("bytes_written", st.BytesWritten).
					Int64("records_removed", st.RecordsRemoved).Dur("took", st.Duration).Msg("compacted log")
			}
		}
	}
}
