package storage

import (
	"math"
	"strings"

	"gregor/storage/vfs"
)

// Config is the per-log (topic-level) configuration. Kafka names in comments.
//
// A zero (or negative) numeric field means "use the default" (see
// DefaultConfig), so a partially filled Config is valid. Consequently
// index.interval.bytes=0 and retention.ms=0 are not expressible; use 1.
// Exceptions, where 0 is a meaningful Kafka value: DeleteRetentionMs,
// MinCompactionLagMs and MinCleanableDirtyRatio use the default only when
// negative, so start from DefaultConfig when setting CleanupPolicy.
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
	RetentionMs        int64 // retention.ms, default 7 days; -1: no time limit (EnforceRetention)
	RetentionBytes     int64 // retention.bytes, default -1: no size limit (EnforceRetention)

	CleanupPolicy          string  // cleanup.policy: "delete" (default), "compact", "compact,delete"; "none" for neither
	DeleteRetentionMs      int64   // delete.retention.ms, default 1 day: tombstones outlive their first cleaning this long
	MinCleanableDirtyRatio float64 // min.cleanable.dirty.ratio, default 0.5
	MinCompactionLagMs     int64   // min.compaction.lag.ms, default 0

	// FS is the filesystem the log reaches its files through, default
	// vfs.Default (the operating system's). Open reads it; SetConfig does
	// not move an open log to another.
	FS vfs.FS
}

// Deletes reports whether cleanup.policy includes delete (retention.ms and
// retention.bytes apply).
func (c Config) Deletes() bool { return c.hasPolicy("delete") }

// Compacts reports whether cleanup.policy includes compact.
func (c Config) Compacts() bool { return c.hasPolicy("compact") }

func (c Config) hasPolicy(p string) bool {
	for _, v := range strings.Split(c.CleanupPolicy, ",") {
		if strings.TrimSpace(v) == p {
			return true
		}
	}
	return false
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

		CleanupPolicy:          "delete",
		DeleteRetentionMs:      24 * 60 * 60 * 1000,
		MinCleanableDirtyRatio: 0.5,
		MinCompactionLagMs:     0,

		FS: vfs.Default,
	}
}

// normalized replaces zero/negative fields with defaults and clamps values
// the on-disk format cannot represent.
func (c Config) normalized() Config {
	d := DefaultConfig()
	if c.FS == nil {
		c.FS = vfs.Default
	}
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
	if c.RetentionMs == 0 || c.RetentionMs < -1 {
		c.RetentionMs = d.RetentionMs
	}
	if c.RetentionBytes == 0 {
		c.RetentionBytes = d.RetentionBytes
	}
	if strings.TrimSpace(c.CleanupPolicy) == "" { // "none" (or any unknown word): neither

		c.CleanupPolicy = d.CleanupPolicy
	}
	if c.DeleteRetentionMs < 0 {
		c.DeleteRetentionMs = d.DeleteRetentionMs
	}
	if c.MinCleanableDirtyRatio < 0 || c.MinCleanableDirtyRatio > 1 {
		c.MinCleanableDirtyRatio = d.MinCleanableDirtyRatio
	}
	if c.MinCompactionLagMs < 0 {
		c.MinCompactionLagMs = d.MinCompactionLagMs
	}
	return c
}
