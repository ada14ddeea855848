package broker

// Down-conversion for Fetch v0-v3, the versions of clients from before
// Kafka 0.11 that read message sets of magic 0 (Fetch v0-v1) or magic 1
// (v2-v3) rather than record batches. The log's batches are read into
// memory and converted one batch at a time (storage.DownConvert), so such a
// response cannot go out with sendfile. Memory is bounded by the partition
// limit: the read region is at most the limit (or one batch when nothing
// was served yet), and conversion stops at the first batch that would take
// the message set past the limit, except that the first partition with
// data always gets at least its first batch. Control batches add nothing;
// when a read found only those, the next batches are read (an old
// consumer would otherwise stay behind a trailing transaction marker).
// message.downconversion.enable=false (topic, or the broker's
// log.message.downconversion.enable) answers UNSUPPORTED_VERSION instead,
// as Kafka 2.x/3.x do.

import (
	"errors"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/controller"
	"gregor/storage"
)

// fetchMagic is the message format a Fetch version reads: 0 for v0-v1, 1
// for v2-v3, 2 (record batches, no conversion) from v4.
func fetchMagic(version int16) int8 {
	switch {
	case version <= 1:
		return 0
	case version <= 3:
		return 1
	}
	return 2
}

// downConversionEnabled is the topic's effective message.downconversion.enable.
func (c *Config) downConversionEnabled(t *controller.Topic) bool {
	def, _ := controller.LookupTopicConfig("message.downconversion.enable")
	v, _ := c.topicConfig(t, def)
	enabled, err := strconv.ParseBool(strings.TrimSpace(v))
	return err != nil || enabled
}

var errStopConversion = errors.New("fetch: down-conversion limit reached")

// downConvert converts region (read from l at offset, up to maxOffset,
// limit bytes, first as Log.Read was given) and, while it yields nothing
// but there is more below maxOffset, the regions after it. It releases
// every region it reads.
func downConvert(l *storage.Log, region storage.Region, magic int8, offset, maxOffset int64, limit int32, first bool) ([]byte, error) {
	var out []byte
	for {
		b, err := region.ReadAll()
		region.Release()
		if err != nil {
			return nil, err
		}
		next := offset
		err = storage.WalkBatches(b, func(h storage.BatchHeader, batch []byte) error {
			before := len(out)
			var err error
			if out, err = storage.DownConvert(out, batch, magic, offset); err != nil {
				return err
			}
			if int64(len(out)) > int64(limit) && (before > 0 || !first) {
				out = out[:before]
				return errStopConversion
			}
			next = h.LastOffset() + 1
			return nil
		})
		switch {
		case errors.Is(err, errStopConversion):
			return out, nil
		case err != nil:
			return nil, err
		case len(out) > 0 || next <= offset || next >= maxOffset:
			return out, nil
		}
		offset = next
		if region, err = l.Read(offset, maxOffset, limit, first); err != nil || region.Len == 0 {
			return out, err
		}
	}
}

// oldFetchError maps error codes older Fetch versions do not know to the
// ones they expect: KAFKA_STORAGE_ERROR arrived in v6 (before it, a failed
// log dir read as NOT_LEADER_FOR_PARTITION).
func oldFetchError(version, code int16) int16 {
	if code == kerr.KafkaStorageError.Code && version < 6 {
		return kerr.NotLeaderForPartition.Code
	}
	return code
}
