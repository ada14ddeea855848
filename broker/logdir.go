package broker

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"gregor/storage"
)

// logDir is one of log.dirs and its health: online until an I/O error
// takes it offline (Kafka's LogDirFailureChannel); from then on every
// produce to its partitions gets KAFKA_STORAGE_ERROR until the broker
// restarts, and its replicas are reported to the controller
// (dirfailure.go) so that leadership moves to other replicas.
type logDir struct {
	dir   string
	id    [16]byte // directory.id of its meta.properties
	clock Clock
	log   zerolog.Logger
	// onFail, when set, is called once when the dir goes offline (set
	// before the broker serves).
	onFail func()
	// placed counts the partitions partitions.where has in this dir
	// (under partitions.mu): new ones go to the dir with the fewest.
	placed int

	failure atomic.Pointer[error] // nil while online
	// lastShortLog is when failureEvent last logged a failure for want
	// of descriptors or memory at error level (UnixNano).
	lastShortLog atomic.Int64
}

func newLogDir(dir string, clock Clock, log zerolog.Logger) *logDir {
	return &logDir{dir: dir, clock: clock, log: log}
}

// fail takes the log dir offline after an I/O error on it. The first
// failure is logged; the process keeps running.
//
// Running out of file descriptors (EMFILE, ENFILE) or memory is the
// process's limit, not the disk's: the read fails, the log dir stays
// online, so one partition that cannot be opened under a full descriptor
// table does not make every partition read-only.
func (d *logDir) fail(err error) {
	if !isDiskFailure(err) {
		return
	}
	if d.failure.CompareAndSwap(nil, &err) {
		d.log.Error().Err(err).Str("log_dir", d.dir).Msg("log dir offline after an i/o error")
		if d.onFail != nil {
			d.onFail()
		}
	}
}

// offline returns the error that took the log dir offline, or nil.
func (d *logDir) offline() error {
	if e := d.failure.Load(); e != nil {
		return fmt.Errorf("%w: log dir %s is offline after an i/o error: %w", storage.ErrStorage, d.dir, *e)
	}
	return nil
}

// isDiskFailure reports whether a storage error says something about the
// disk, rather than about the process's own resources.
func isDiskFailure(err error) bool {
	return !errors.Is(err, syscall.EMFILE) && !errors.Is(err, syscall.ENFILE) && !errors.Is(err, syscall.ENOMEM)
}

// failureEvent starts the log line of a failed produce or fetch at error
// level, except for partitions whose log cannot be opened for want of
// descriptors or memory: one such line every shortLogEvery, the others at
// debug level (otherwise every request to every such partition logs one).
func (d *logDir) failureEvent(err error) *zerolog.Event {
	if isDiskFailure(err) {
		return d.log.Error().Err(err)
	}
	now := d.clock.Now().UnixNano()
	if last := d.lastShortLog.Load(); now-last >= int64(shortLogEvery) && d.lastShortLog.CompareAndSwap(last, now) {
		return d.log.Error().Err(err).Dur("next_in", shortLogEvery)
	}
	return d.log.Debug().Err(err)
}

const shortLogEvery = 10 * time.Second
