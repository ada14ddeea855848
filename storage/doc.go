// Package storage is gregor's partition log: Kafka-compatible segment files,
// sparse indexes, idempotent-producer state and crash recovery. It imports
// nothing from gregor and does not log.
//
// On disk, one directory per partition (the broker names it
// <topic>-<partition>):
//
//	<20-digit base offset>.log        record batches exactly as received, except
//	                                  the stamped baseOffset and partitionLeaderEpoch
//	                                  (and, with LogAppendTime, attributes/timestamps/CRC)
//	<base>.index                      sparse offset index: (lastOffset-base uint32, position uint32)
//	                                  big endian, one entry per index.interval.bytes; the
//	                                  entry's position is the start of the batch whose last
//	                                  offset it names (Kafka's format)
//	<base>.timeindex                  (max timestamp so far int64, base offset of the batch
//	                                  holding it - base uint32), appended with the offset
//	                                  index when the timestamp grows, plus a final entry when
//	                                  the segment is sealed or the log closed
//	<offset>.snapshot                 producer state as of offset (clean Close, segment roll)
//	recovery-point-offset-checkpoint  "0\n<offset>\n": everything below is fsynced
//	high-watermark                    "0\n<offset>\n"
//	leader-epoch-checkpoint           "0\n<n>\n<epoch> <startOffset>\n..." (Kafka's format)
//	.clean-shutdown                   written by Close, removed by Open
//
// Index files are not preallocated. Index lookups are binary searches using
// pread on the index files (page cache), so memory per log is O(segments).
//
// Concurrency: Append is serialized by the log mutex. Read, OffsetForTimestamp,
// LogEndOffset and HighWatermark run concurrently with Append: the writer
// publishes (per segment: index entry counts, then byte size; then the log
// end offset, then the high watermark) with atomics only after the bytes are
// written, and readers never look past the published size.
package storage
