package broker

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/rs/zerolog"

	"gregor/controller"
	"gregor/storage"
	"gregor/storage/vfs"
)

// partition is this broker's replica of one topic partition.
type partition struct {
	topic   string
	index   int32
	topicID [16]byte
	log     *storage.Log
	dir     *logDir // the log dir holding log

	mu      sync.Mutex
	waiters map[chan struct{}]struct{} // long-polling fetches to wake on append

	rep replicaState // leader or follower state (replica.go), under rep.mu

	traffic partitionTraffic // client bytes and records in and out (metrics.go)

	leaderHW atomic.Int64 // as a follower: the leader's high watermark at the last fetch (DescribeLogDirs)
}

// wake signals every long-polling fetch waiting on this partition.
func (p *partition) wake() {
	p.mu.Lock()
	for w := range p.waiters {
		select {
		case w <- struct{}{}:
		default:
		}
	}
	p.mu.Unlock()
}

func (p *partition) addWaiter(w chan struct{}) {
	p.mu.Lock()
	if p.waiters == nil {
		p.waiters = map[chan struct{}]struct{}{}
	}
	p.waiters[w] = struct{}{}
	p.mu.Unlock()
}

func (p *partition) removeWaiter(w chan struct{}) {
	p.mu.Lock()
	delete(p.waiters, w)
	p.mu.Unlock()
}

type tp struct {
	topic string
	index int32
}

// partitions holds the open logs of the partitions this broker hosts.
// Logs are opened at start for every partition in the metadata and on
// first use for partitions created since.
type partitions struct {
	dirs       []*logDir // log.dirs (jbod.go)
	fs         vfs.FS    // the log dirs' filesystem (Config.Log.FS)
	meta       metaView
	storageCfg func(*controller.Topic) storage.Config
	clock      Clock
	log        zerolog.Logger
	wg         *sync.WaitGroup // background removals; the server waits for it
	reconcile  signal          // asks replication for a reconcile

	mu sync.RWMutex
	m  map[tp]*partition
	// where is the log dir of every partition found on disk or placed
	// since (jbod.go), open or not.
	where map[tp]*logDir
	// moves are the replicas being moved to another log dir (logmove.go).
	moves map[tp]*futureReplica
	// resumable are the future directories left by a restart that Run
	// resumes (keepFutures, resumeMoves).
	resumable map[tp]leftFuture
	// opening has a channel per partition whose log is being opened or
	// retired, closed when that is done: logs open and close outside mu
	// (both fsync, and would stall every lookup under it), one at a time
	// per partition.
	opening map[tp]chan struct{}
	closed  bool // closeAll ran: opens that finish later close their log
	// fileBudget is how many descriptors logs may hold (one per segment):
	// no log is opened beyond it, so that running short of descriptors
	// fails some partitions (KAFKA_STORAGE_ERROR) rather than the
	// listener's accepts and the broker's own files.
	fileBudget atomic.Int64
}

// newPartitions returns the partitions kept in dirs. meta says which
// exist; storageCfg gives a topic's log configuration; reconcile is
// notified when a log opens outside a reconcile (see getOpen).
func newPartitions(dirs []*logDir, fs vfs.FS, meta metaView, storageCfg func(*controller.Topic) storage.Config, clock Clock, log zerolog.Logger, wg *sync.WaitGroup, reconcile signal) *partitions {
	ps := &partitions{dirs: dirs, fs: fs, meta: meta, storageCfg: storageCfg, clock: clock, log: log, wg: wg, reconcile: reconcile,
		m: map[tp]*partition{}, where: map[tp]*logDir{}, opening: map[tp]chan struct{}{}}
	ps.fileBudget.Store(logFileBudget())
	return ps
}

// logFileBudget is the process's RLIMIT_NOFILE less a tenth of it (at
// least 64) kept for connections, metadata and checkpoint writes. Go
// raises the soft limit to the hard one at start-up.
func logFileBudget() int64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > math.MaxInt64 {
		return math.MaxInt64
	}
	limit := int64(rl.Cur)
	return limit - max(limit/10, 64)
}

// openParallel is how many logs openMany opens at once.
const openParallel = 16

// openMany opens the logs of keys (those not open yet) openParallel at a
// time; errors are left for the callers of get to see again.
func (ps *partitions) openMany(keys []tp) {
	sem := make(chan struct{}, openParallel)
	var wg sync.WaitGroup
	for _, k := range keys {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			ps.getReconciled(k.topic, k.index)
		}()
	}
	wg.Wait()
}

// localPartitions returns the partitions of snap with a replica on node.
func localPartitions(snap *controller.Snapshot, node int32) []tp {
	var keys []tp
	for _, t := range snap.Topics {
		for _, p := range t.Partitions {
			if slices.Contains(p.Replicas, node) {
				keys = append(keys, tp{t.Name, p.Index})
			}
		}
	}
	return keys
}

// missing returns the keys of keys whose logs are not open.
func (ps *partitions) missing(keys []tp) []tp {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	var out []tp
	for _, k := range keys {
		if ps.m[k] == nil {
			out = append(out, k)
		}
	}
	return out
}

// partitionDir is the name of a partition's directory in its log dir.
func partitionDir(topic string, index int32) string {
	return topic + "-" + strconv.Itoa(int(index))
}

// openAll finds the partitions in the log dirs (scanDirs), opens every
// partition in the metadata, and removes the directories of partitions
// the metadata no longer has (topics deleted while the broker was down).
// A disk failure opening a log takes its dir offline; start-up fails only
// when every dir is offline.
func (ps *partitions) openAll(self int32) error {
	found, futures, err := ps.scanDirs()
	if err != nil {
		return err
	}

	keys := localPartitions(ps.meta.Snapshot(), self)
	ps.placeMissingOnOffline(keys)
	ps.openMany(keys)
	want := map[string]bool{}
	var short int
	var shortErr error
	for _, k := range keys {
		want[partitionDir(k.topic, k.index)] = true
		if _, err := ps.getReconciled(k.topic, k.index); err != nil {
			if isDiskFailure(err) {
				if errors.Is(err, storage.ErrStorage) {
					ps.failPartitionDir(k.topic, k.index, err)
				}
				if ps.allOffline() {
					return err
				}
				continue
			}
			// Out of descriptors or memory: start anyway. These
			// partitions answer KAFKA_STORAGE_ERROR and are opened
			// when next used, once the resource is there.
			short++
			shortErr = err
		}
	}
	if short > 0 {
		ps.log.Error().Err(shortErr).Int("partitions", short).Int("opened", len(keys)-short).
			Msg("logs not opened at start-up: out of file descriptors or memory")
	}
	for _, sc := range found {
		for _, name := range sc.parts {
			if want[name] {
				continue
			}
			k, _ := partitionDirName(name)
			ps.mu.Lock()
			if ps.m[k] == nil && ps.where[k] == sc.dir {
				ps.deleteWhereLocked(k)
			}
			ps.mu.Unlock()
			ps.log.Info().Str("dir", name).Str("log_dir", sc.dir.dir).Msg("removing log of deleted partition")
			ps.fs.RemoveAll(filepath.Join(sc.dir.dir, name))
		}
	}
	ps.keepFutures(futures, want)
	return nil
}

// allOffline reports whether every log dir is offline.
func (ps *partitions) allOffline() bool {
	for _, d := range ps.dirs {
		if d.offline() == nil {
			return false
		}
	}
	return true
}

// get returns the partition, opening its log if the metadata has it. The
// open log must belong to the topic's current incarnation: a topic deleted
// and created again under the same name gets a fresh log (topic ids are
// compared, in memory and through the partition.metadata file on disk).
func (ps *partitions) get(topic string, index int32) (*partition, error) {
	return ps.getOpen(topic, index, true)
}

// getReconciled is get for reconcile and start-up, which give the logs
// they open their replica state themselves: no reconcile is requested.
func (ps *partitions) getReconciled(topic string, index int32) (*partition, error) {
	return ps.getOpen(topic, index, false)
}

// getOpen is get; a log it opens asks for a reconcile when reconcile
// is true (see replication.kick).
func (ps *partitions) getOpen(topic string, index int32, reconcile bool) (*partition, error) {
	k := tp{topic, index}
	for {
		t := ps.meta.Snapshot().Topic(topic)
		if t == nil || index < 0 || int(index) >= len(t.Partitions) {
			return nil, errUnknownPartition
		}
		ps.mu.RLock()
		p := ps.m[k]
		ps.mu.RUnlock()
		if p != nil && p.topicID == t.ID {
			return p, nil
		}
		ps.mu.Lock()
		if p = ps.m[k]; p != nil {
			if p.topicID == t.ID {
				ps.mu.Unlock()
				return p, nil
			}
			done := ps.takeLocked(p) // an older incarnation of the topic
			ps.mu.Unlock()
			ps.retire(p)
			done()
			continue
		}
		if ps.closed {
			ps.mu.Unlock()
			return nil, fmt.Errorf("broker: open %s-%d: %w", topic, index, storage.ErrClosed)
		}
		if w := ps.opening[k]; w != nil {
			ps.mu.Unlock()
			<-w // someone else is opening it: use theirs
			continue
		}
		w := make(chan struct{})
		ps.opening[k] = w
		ps.mu.Unlock()

		p, err := ps.open(t, index)

		ps.mu.Lock()
		var stale *partition // opened for a topic incarnation that is gone
		if err == nil {
			// The topic may have been deleted (or deleted and created
			// again) while the log opened: then it is not ours to keep.
			if cur := ps.meta.Snapshot().Topic(topic); ps.closed || cur == nil || cur.ID != t.ID {
				stale, p, err = p, nil, errUnknownPartition
			} else {
				if cur != t {
					// Its configs may have changed while it opened,
					// and reconfigure only reaches logs in m.
					p.log.SetConfig(ps.storageCfg(cur))
				}
				ps.m[k] = p
				if reconcile {
					ps.reconcile.notify()
				}
			}
		}
		if stale == nil {
			delete(ps.opening, k)
			close(w)
		}
		closed := ps.closed
		ps.mu.Unlock()
		if stale != nil {
			// Closing fsyncs: outside mu. opening[k] stays until the
			// directory has moved aside, so that no new incarnation
			// opens it meanwhile.
			stale.log.Close()
			if !closed {
				ps.retireDir(stale.log.Dir())
			}
			ps.mu.Lock()
			if ps.m[k] == nil {
				ps.deleteWhereLocked(k)
			}
			delete(ps.opening, k)
			close(w)
			ps.mu.Unlock()
		}
		if err == errUnknownPartition && !closed {
			continue // look again: a new incarnation may be there
		}
		return p, err
	}
}

// open opens the log of partition index of t, in the log dir it is in
// (or the one place chooses). Callers hold opening[k].
func (ps *partitions) open(t *controller.Topic, index int32) (*partition, error) {
	ld, err := ps.place(tp{t.Name, index})
	if err != nil {
		return nil, err
	}
	if err := ld.offline(); err != nil {
		return nil, fmt.Errorf("broker: open %s-%d: %w", t.Name, index, err)
	}
	dir := filepath.Join(ld.dir, partitionDir(t.Name, index))
	if id, ok := readPartitionMetadata(ps.fs, dir); ok && id != t.ID {
		ps.retireDir(dir) // left by an older incarnation while we were down
	}
	if n, budget := storage.OpenSegmentFiles(), ps.fileBudget.Load(); n >= budget {
		return nil, fmt.Errorf("broker: open %s-%d: %w: logs hold %d file descriptors, the most they may (%d) under RLIMIT_NOFILE: %w",
			t.Name, index, storage.ErrStorage, n, budget, syscall.EMFILE)
	}
	l, err := storage.Open(dir, ps.storageCfg(t), ps.clock.Now)
	if err != nil {
		return nil, fmt.Errorf("broker: open %s-%d: %w", t.Name, index, err)
	}
	if err := writePartitionMetadata(ps.fs, dir, t.ID); err != nil {
		l.Close()
		return nil, fmt.Errorf("broker: open %s-%d: %w", t.Name, index, err)
	}
	if len(t.Partitions[index].Replicas) > 1 {
		// The leader moves it as the ISR catches up; after a restart it
		// starts from the checkpoint, not the log end.
		l.RestoreHighWatermark()
	}
	return &partition{topic: t.Name, index: index, topicID: t.ID, log: l, dir: ld}, nil
}

// takeLocked takes p out of the map, so that no lookup finds it again,
// and holds its key in opening until done is called, so that no new
// incarnation opens its directory before it has moved aside. ps.mu must
// be held; the caller retires p with mu released, then calls done.
func (ps *partitions) takeLocked(p *partition) (done func()) {
	k := tp{p.topic, p.index}
	delete(ps.m, k)
	ps.deleteWhereLocked(k)
	w := make(chan struct{})
	ps.opening[k] = w
	return func() {
		ps.mu.Lock()
		delete(ps.opening, k)
		ps.mu.Unlock()
		close(w)
	}
}

// retire closes the log of a partition taken out of the map and moves its
// directory aside (Kafka's "<dir>.<id>-delete"), so that a new incarnation
// can use the path at once; the old files are removed in the background.
// ps.mu must not be held: closing fsyncs.
func (ps *partitions) retire(p *partition) {
	p.wake()
	if err := p.log.Close(); err != nil {
		ps.log.Warn().Err(err).Str("topic", p.topic).Int32("partition", p.index).Msg("closing deleted partition failed")
	}
	ps.retireDir(p.log.Dir())
}

func (ps *partitions) retireDir(dir string) {
	var b [8]byte
	rand.Read(b[:])
	aside := fmt.Sprintf("%s.%x-delete", dir, b)
	if err := ps.fs.Rename(dir, aside); err != nil {
		if !os.IsNotExist(err) {
			ps.log.Error().Err(err).Str("dir", dir).Msg("moving deleted partition aside failed")
		}
		return
	}
	ps.wg.Go(func() { // Run waits for it at shutdown
		if err := ps.fs.RemoveAll(aside); err != nil {
			ps.log.Error().Err(err).Str("dir", aside).Msg("removing deleted partition failed")
		}
	})
}

// partition.metadata records which topic incarnation a log directory
// belongs to (Kafka writes the same file, with its own format).
const partitionMetadataFile = "partition.metadata"

func readPartitionMetadata(fs vfs.FS, dir string) ([16]byte, bool) {
	var id [16]byte
	b, err := fs.ReadFile(filepath.Join(dir, partitionMetadataFile))
	if err != nil {
		return id, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "topic_id: "); ok {
			raw, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(v))
			if err != nil || len(raw) != 16 {
				return id, false
			}
			copy(id[:], raw)
			return id, true
		}
	}
	return id, false
}

func writePartitionMetadata(fs vfs.FS, dir string, id [16]byte) error {
	if cur, ok := readPartitionMetadata(fs, dir); ok && cur == id {
		return nil
	}
	body := "version: 0\ntopic_id: " + base64.RawURLEncoding.EncodeToString(id[:]) + "\n"
	return replaceFile(fs, filepath.Join(dir, partitionMetadataFile), []byte(body))
}

// replaceFile writes body to path through a synced temporary file and a
// rename, so that a crash leaves the old file or the new one.
func replaceFile(fs vfs.FS, path string, body []byte) error {
	tmp := path + ".tmp"
	f, err := fs.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(body)
	if err == nil {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err != nil {
		return err
	}
	return fs.Rename(tmp, path)
}

// topics returns the names of topics with open partitions.
func (ps *partitions) topics() []string {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	seen := map[string]bool{}
	var names []string
	for k := range ps.m {
		if !seen[k.topic] {
			seen[k.topic] = true
			names = append(names, k.topic)
		}
	}
	return names
}

// all returns every open partition.
func (ps *partitions) all() []*partition {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	out := make([]*partition, 0, len(ps.m))
	for _, p := range ps.m {
		out = append(out, p)
	}
	return out
}

// lookup returns an open partition or nil, without opening anything.
func (ps *partitions) lookup(topic string, index int32) *partition {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	return ps.m[tp{topic, index}]
}

// dropTopic closes and deletes the logs of a deleted topic: they leave
// the map under mu, and are closed (fsync) after it is released.
func (ps *partitions) dropTopic(topic string) {
	ps.mu.Lock()
	var gone []*partition
	var dones []func()
	for k, p := range ps.m {
		if k.topic == topic {
			dones = append(dones, ps.takeLocked(p))
			gone = append(gone, p)
		}
	}
	ps.mu.Unlock()
	for i, p := range gone {
		ps.retire(p)
		dones[i]()
	}
}

// dropPartition closes and deletes p's log if it is still the open one
// (a replica moved away); it reports whether it did.
func (ps *partitions) dropPartition(p *partition) bool {
	ps.mu.Lock()
	if ps.m[tp{p.topic, p.index}] != p {
		ps.mu.Unlock()
		return false
	}
	done := ps.takeLocked(p)
	ps.mu.Unlock()
	ps.retire(p)
	done()
	return true
}

// reconfigure applies a topic's new configuration to its open logs.
func (ps *partitions) reconfigure(t *controller.Topic) {
	cfg := ps.storageCfg(t)
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	for k, p := range ps.m {
		if k.topic == t.Name {
			p.log.SetConfig(cfg)
		}
	}
}

// closeAll closes every log with storage.CloseAll: closeParallel at a
// time, made durable with one syncfs of the log dir rather than fsyncs
// per file. The logs leave the map under mu and close after it is
// released; opens that finish later see closed and close their own log.
func (ps *partitions) closeAll() error {
	ps.mu.Lock()
	ps.closed = true
	ps.stopMovesLocked()
	logs := make([]*storage.Log, 0, len(ps.m))
	var failed []*partition
	for k, p := range ps.m {
		delete(ps.m, k)
		if p.offline() != nil {
			failed = append(failed, p)
			continue
		}
		logs = append(logs, p.log)
	}
	ps.mu.Unlock()
	// The logs of offline dirs are closed as well as they can be; their
	// errors are the dir's failure again, not the shutdown's.
	for _, p := range failed {
		if err := p.log.Close(); err != nil {
			ps.log.Debug().Err(err).Str("topic", p.topic).Int32("partition", p.index).Msg("closing a log of an offline dir failed")
		}
	}
	return storage.CloseAll(logs, closeParallel)
}

const closeParallel = 32
