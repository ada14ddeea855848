package storage

import "math"

// Config is the per-log (topic-level) configuration. Kafka names in comments.
//
// A zero (or negative) numeric field means "use the default" (see
// DefaultConfig), so a partially filled Config is valid. Consequently
// index.interval.bytes=0 is not expressible; use 1 to index every batch.
type Config struct {
	SegmentBytes       int64 // segment.bytes, default 1 GiB (1073741824)
	SegmentMs          int64 // segment.ms, default 7 days
	IndexIntervalBytes int32 // index.interval.bytes, default 4096
	SegmentIndexBytes  int32 // segment.index.bytes, default 10 MiB (max index file size; roll when full)
	FlushMessages      int64 // flush.messages, default math.MaxInt64 (fsync after this many messages)
	FlushMs            int64 // flush.ms, default math.MaxInt64 (honoured lazily on append)
	FsyncOnAppend      bool  // gregor extension: fsync before Append returns
	MaxMessageBytes    int32 // max.message.bytes, default 1048588: a batch larger than this -> ErrMessageTooLarge
	LogAppendTime      bool  // message.timestamp.type=LogAppendTime
	RetentionMs        int64 // retention.ms (not enforced yet)
	RetentionBytes     int64 // retention.bytes (not enforced yet)
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:       1 << 30,
		SegmentMs:          7 * 24 * 60 * 60 * 1000,
		IndexIntervalBytes: 4096,
		SegmentIndexBytes:  10 << 20,
		FlushMessages:      math.MaxInt64,
		FlushMs:            math.MaxInt64,
		MaxMessageBytes:    1048588,
		RetentionMs:        7 * 24 * 60 * 60 * 1000,
		RetentionBytes:     -1,
	}
}

// normalized replaces zero/negative fields with defaults and clamps values
// the on-disk format cannot represent.
func (c Config) normalized() Config {
	d := DefaultConfig()
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = d.SegmentBytes
	}
	// Index positions are uint32; keep segments addressable.
	if c.SegmentBytes > math.MaxInt32 {
		c.SegmentBytes = math.MaxInt32
	}
	if c.SegmentMs <= 0 {
		c.SegmentMs = d.SegmentMs
	}
	if c.IndexIntervalBytes <= 0 {
		c.IndexIntervalBytes = d.IndexIntervalBytes
	}
	if c.SegmentIndexBytes <= 0 {
		c.SegmentIndexBytes = d.SegmentIndexBytes
	}
	if c.SegmentIndexBytes < 2*timeEntrySize {
		c.SegmentIndexBytes = 2 * timeEntrySize
	}
	if c.FlushMessages <= 0 {
		c.FlushMessages = d.FlushMessages
	}
	if c.FlushMs <= 0 {
		c.FlushMs = d.FlushMs
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = d.MaxMessageBytes
	}
	return c
}
