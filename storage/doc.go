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
//	log-start-offset-checkpoint       "0\n<offset>\n": log start offset (DeleteRecords, retention)
//	cleaner-offset-checkpoint         "0\n<offset>\n": compaction cleaned everything below
//	<base>.{log,index,timeindex}.cleaned / .swap, <base>.cleaner-swap
//	                                  a compaction swap in progress (see compact.go)
//	high-watermark                    "0\n<offset>\n"
//	leader-epoch-checkpoint           "0\n<n>\n<epoch> <startOffset>\n..." (Kafka's format)
//	.clean-shutdown                   written by Close, removed by Open
//
// Index files are memory-mapped (shared, read-write), as Kafka maps its
// indexes: an entry is a store into the mapping and a lookup a binary
// search over it, and a mapped index holds no file descriptor, so a
// segment costs one descriptor (its .log). While a segment is written its
// index files grow by fallocate in chunks ahead of the entries (a full disk
// is an error from fallocate, never a SIGBUS) and may end in zeroed space;
// they are cut back to their entries when the segment is sealed, closed or
// truncated, and recovery rebuilds the active segment's indexes.
//
// Every file operation goes through Config.FS (package storage/vfs; default
// the operating system's), so tests can inject ENOSPC, EIO, torn writes and
// crashes with vfs.FaultFS. Stores into the index mappings and sendfile of
// a Region's File bypass it.
//
// Maintenance: EnforceRetention (retention.ms/bytes, log start offset),
// DeleteRecords, TruncateTo and EndOffsetForEpoch (replication), Compact
// (cleanup.policy=compact), FlushIfDue (flush.ms). The broker drives them
// from its background loops; storage starts no goroutines.
//
// Segment files are reference counted: a Region from Read keeps its segment's
// files open (and readable, though unlinked) until Region.Release, so
// removing segments never breaks an in-flight sendfile.
//
// Concurrency: Append is serialized by the log mutex. Read, OffsetForTimestamp,
// LogEndOffset and HighWatermark run concurrently with Append: the writer
// publishes (per segment: index entry counts, then byte size; then the log
// end offset, then the high watermark) with atomics only after the bytes are
// written, and readers never look past the published size.
package storage
