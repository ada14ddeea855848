package broker

// Moving a replica to another log dir of this broker while it serves
// (AlterReplicaLogDirs), after Kafka's future replicas and
// ReplicaAlterLogDirsThread: a future log in the destination dir,
// <topic>-<partition>.<id>-future, copies the current log batch by batch
// (offsets, leader epochs and producer state kept, as a follower
// appends), following it as it grows. Once it has caught up, the current
// log is frozen (storage.Log.Freeze: appends get NOT_LEADER_OR_FOLLOWER,
// which clients retry; reads go on), the last batches are copied, the
// future log is closed and renamed to the partition's name, reopened, and
// takes the current one's place; the old directory is moved aside and
// removed. A current log truncated under the copy (a follower's leader
// changed) is detected by its leader epochs and copied again from its log
// start. A move is abandoned when the partition goes away, either dir
// fails; then the future directory is removed. A broker stopping (or
// dying) keeps it, as Kafka keeps future logs: at start-up scanDirs finds
// it, openAll checks it still belongs to a replica here (same topic
// incarnation, another online dir) and Run resumes the copy from the
// future log's end (resumeMoves); storage.Open's recovery has cut a torn
// tail, and consistent() starts over a copy the current log has diverged
// from. Anything else found is dropped with a log line.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gregor/storage"
	"gregor/storage/vfs"
)

// futureReplica is a move in progress.
type futureReplica struct {
	topic   string
	index   int32
	topicID [16]byte
	src     *storage.Log // the current log, as the move started
	dest    *logDir
	path    string // the future log's directory

	log  atomic.Pointer[storage.Log] // the future log, once opened
	stop chan struct{}
	once sync.Once
	// keep: stopped by the broker's shutdown, the future directory stays
	// for the move to resume after the restart.
	keep atomic.Bool
}

// pause stops f for the shutdown, keeping its future directory.
func (f *futureReplica) pause() {
	f.keep.Store(true)
	f.cancel()
}

func (f *futureReplica) cancel() { f.once.Do(func() { close(f.stop) }) }

func (f *futureReplica) stopped() bool {
	select {
	case <-f.stop:
		return true
	default:
		return false
	}
}

// progress is the future log's size and how far its log end is behind
// the current log's (DescribeLogDirs).
func (f *futureReplica) progress() (size, lag int64) {
	l := f.log.Load()
	if l == nil {
		return 0, f.src.LogEndOffset()
	}
	return l.Size(), max(f.src.LogEndOffset()-l.LogEndOffset(), 0)
}

// futureReplicas lists the moves in progress.
func (ps *partitions) futureReplicas() []*futureReplica {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	out := make([]*futureReplica, 0, len(ps.moves))
	for _, f := range ps.moves {
		out = append(out, f)
	}
	return out
}

// moveReplica moves p's log to dest: a no-op when a move there is under
// way; a move elsewhere is abandoned first. dest being p's own dir
// abandons any move. As Kafka's AlterReplicaLogDirs, the future log is
// created before it returns: an error is the destination's (its dir is
// then failed when the error is the disk's). The move pauses when ctx
// ends (shutdown).
func (ps *partitions) moveReplica(ctx context.Context, p *partition, dest *logDir) error {
	ps.mu.Lock()
	under := ps.abandonMoveLocked(tp{p.topic, p.index}, dest)
	ps.mu.Unlock()
	if under || dest == p.dir {
		return nil
	}
	var id [8]byte
	rand.Read(id[:])
	path := filepath.Join(dest.dir, fmt.Sprintf("%s.%x%s", partitionDir(p.topic, p.index), id, futureSuffix))
	fut, err := ps.openFuture(p.topicID, path)
	if err != nil {
		if isDirFailure(err) {
			dest.fail(err)
		}
		ps.fs.RemoveAll(path)
		return err
	}
	if !ps.startMove(ctx, p, dest, path, fut) {
		fut.Close()
		ps.fs.RemoveAll(path)
	}
	return nil
}

// openFuture opens (creating or recovering) the future log at path of the
// topic incarnation id and records the incarnation in it.
func (ps *partitions) openFuture(id [16]byte, path string) (*storage.Log, error) {
	t := ps.meta.Snapshot().TopicByID(id)
	if t == nil {
		return nil, errors.New("topic deleted")
	}
	fut, err := storage.Open(path, ps.storageCfg(t), ps.clock.Now)
	if err != nil {
		return nil, err
	}
	if err := writePartitionMetadata(ps.fs, path, id); err != nil {
		fut.Close()
		return nil, err
	}
	return fut, nil
}

// startMove starts copying p into the future directory path, whose log
// fut is open (moveReplica) or nil (a directory left by a restart,
// opened and recovered by the move). It reports false when it did not
// take fut: a move to dest is under way already, dest is p's dir, or the
// partitions are closed.
func (ps *partitions) startMove(ctx context.Context, p *partition, dest *logDir, path string, fut *storage.Log) bool {
	k := tp{p.topic, p.index}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.abandonMoveLocked(k, dest) || dest == p.dir || ps.closed {
		return false
	}
	msg := "resuming replica move to another log dir"
	if fut != nil {
		msg = "moving replica to another log dir"
	}
	f := &futureReplica{topic: p.topic, index: p.index, topicID: p.topicID, src: p.log, dest: dest, path: path, stop: make(chan struct{})}
	if fut != nil {
		f.log.Store(fut)
	}
	if ps.moves == nil {
		ps.moves = map[tp]*futureReplica{}
	}
	ps.moves[k] = f
	context.AfterFunc(ctx, f.pause)
	ps.log.Info().Str("topic", p.topic).Int32("partition", p.index).Str("from", p.dir.dir).Str("to", dest.dir).Msg(msg)
	ps.wg.Go(func() { ps.runMove(f) })
	return true
}

// abandonMoveLocked cancels k's move to another dir than dest and
// reports whether one to dest is under way; ps.mu must be held.
func (ps *partitions) abandonMoveLocked(k tp, dest *logDir) (under bool) {
	f := ps.moves[k]
	if f == nil {
		return false
	}
	if f.dest == dest {
		return true
	}
	f.cancel()
	delete(ps.moves, k)
	return false
}

// stopMovesLocked pauses every move (closeAll); ps.mu must be held.
func (ps *partitions) stopMovesLocked() {
	for k, f := range ps.moves {
		f.pause()
		delete(ps.moves, k)
	}
}

// leftFuture is a future directory found at start-up.
type leftFuture struct {
	dir  *logDir
	path string
}

// futureDirName parses a future directory's name,
// <topic>-<partition>.<id>-future.
func futureDirName(name string) (tp, bool) {
	base, ok := strings.CutSuffix(name, futureSuffix)
	i := strings.LastIndexByte(base, '.')
	if !ok || i <= 0 {
		return tp{}, false
	}
	return partitionDirName(base[:i])
}

// keepFutures keeps, of the future directories scanDirs found, those of
// a replica open here in another online dir, of the same topic
// incarnation, for resumeMoves; the others are removed, except those of
// partitions hosted here (want, by directory name) whose log could not be
// opened now (out of descriptors): a later restart may resume them.
func (ps *partitions) keepFutures(found map[tp][]leftFuture, want map[string]bool) {
	for k, fs := range found {
		for i, f := range fs {
			why := ""
			p := ps.lookup(k.topic, k.index)
			id, ok := readPartitionMetadata(ps.fs, f.path)
			switch {
			case i > 0:
				why = "another future directory of the partition was kept"
			case p == nil && want[partitionDir(k.topic, k.index)]:
				ps.log.Warn().Str("topic", k.topic).Int32("partition", k.index).Str("dir", f.path).Msg("future replica left by a restart kept, its replica not open")
				continue
			case p == nil:
				why = "no replica of the partition here"
			case p.dir == f.dir:
				why = "the replica is in that log dir already"
			case p.offline() != nil:
				why = "the replica's log dir is offline"
			case !ok || id != p.topicID:
				why = "not of the topic's current incarnation"
			}
			if why == "" {
				ps.mu.Lock()
				if ps.resumable == nil {
					ps.resumable = map[tp]leftFuture{}
				}
				ps.resumable[k] = f
				ps.mu.Unlock()
				continue
			}
			ps.log.Info().Str("topic", k.topic).Int32("partition", k.index).Str("dir", f.path).Str("reason", why).Msg("removing future replica left by a restart")
			ps.fs.RemoveAll(f.path)
		}
	}
}

// resumeMoves resumes the moves keepFutures kept (Run), pausing when ctx
// ends.
func (ps *partitions) resumeMoves(ctx context.Context) {
	ps.mu.Lock()
	left := ps.resumable
	ps.resumable = nil
	ps.mu.Unlock()
	for k, f := range left {
		p := ps.lookup(k.topic, k.index)
		if p == nil || f.dir.offline() != nil || p.dir == f.dir {
			ps.log.Info().Str("topic", k.topic).Int32("partition", k.index).Str("dir", f.path).Msg("removing future replica left by a restart")
			ps.fs.RemoveAll(f.path)
			continue
		}
		ps.startMove(ctx, p, f.dir, f.path, nil)
	}
}

// moveRetry is the pause after a failed copy round and between rounds
// that found nothing new to copy.
const moveRetry = 50 * time.Millisecond

// runMove copies f until it swaps in or is abandoned.
func (ps *partitions) runMove(f *futureReplica) {
	k := tp{f.topic, f.index}
	swapped := false
	defer func() {
		ps.mu.Lock()
		if ps.moves[k] == f {
			delete(ps.moves, k)
		}
		ps.mu.Unlock()
		if swapped {
			return
		}
		if l := f.log.Load(); l != nil {
			l.Close()
		}
		if f.keep.Load() {
			ps.log.Info().Str("topic", f.topic).Int32("partition", f.index).Str("to", f.dest.dir).Msg("replica move paused until the restart")
			return
		}
		ps.fs.RemoveAll(f.path)
	}()
	fail := func(err error) {
		if f.keep.Load() {
			return // the shutdown's doing
		}
		ps.log.Warn().Err(err).Str("topic", f.topic).Int32("partition", f.index).Str("to", f.dest.dir).Msg("replica move abandoned")
	}
	fut := f.log.Load()
	if fut == nil { // resumed: recover what the restart left
		var err error
		if fut, err = ps.openFuture(f.topicID, f.path); err != nil {
			ps.destFailed(f, err)
			fail(err)
			return
		}
		f.log.Store(fut)
	}
	for {
		if f.stopped() {
			return
		}
		p := ps.lookup(f.topic, f.index)
		if p == nil || p.log != f.src || f.dest.offline() != nil || p.offline() != nil {
			fail(errors.New("the partition, its log or a log dir went away"))
			return
		}
		n, err := ps.copyRound(f, fut)
		if err != nil {
			fail(err)
			return
		}
		if !ps.consistent(f, fut) {
			continue // reset: copy again
		}
		if n >= freezeBelow {
			continue // far behind: copy on before freezing
		}
		if n == 0 && fut.LogEndOffset() != f.src.LogEndOffset() {
			sleepOrStop(f.stop, moveRetry)
			continue
		}
		// Nearly caught up: make the copy durable (so that closing it
		// while the current log is frozen is quick), freeze the current
		// log, copy what came meanwhile, swap.
		if err := fut.Flush(); err != nil {
			ps.destFailed(f, err)
			fail(err)
			return
		}
		f.src.Freeze()
		frozenAt := ps.clock.Now()
		_, err = ps.copyRound(f, fut)
		if err == nil && (!ps.consistent(f, fut) || fut.LogEndOffset() != f.src.LogEndOffset()) {
			f.src.Unfreeze()
			continue
		}
		if err == nil {
			err = ps.swap(f, p, fut, frozenAt)
		}
		if err != nil {
			f.src.Unfreeze()
			fail(err)
			return
		}
		swapped = true
		return
	}
}

func sleepOrStop(stop <-chan struct{}, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-stop:
	case <-t.C:
	}
}

// freezeBelow is the most a copy round may have copied for the next
// one to run with the current log frozen (appends wait that long).
const freezeBelow = 1 << 20

// consistent reports whether fut is a prefix of f.src: not beyond its log
// end, and its last leader epoch starts where f.src's does (above both
// logs' starts), no later epoch of f.src starting below fut's log end. Otherwise the current log
// was truncated under the copy: fut is reset to copy again.
func (ps *partitions) consistent(f *futureReplica, fut *storage.Log) bool {
	se, fe := f.src.LeaderEpochs(), fut.LeaderEpochs()
	ok := fut.LogEndOffset() <= f.src.LogEndOffset()
	if ok && len(fe) > 0 {
		last := fe[len(fe)-1]
		i := slices.IndexFunc(se, func(e storage.EpochEntry) bool { return e.Epoch == last.Epoch })
		// Either log's epoch cache starts at its own log start: compare
		// the starts above both.
		floor := max(f.src.LogStartOffset(), fut.LogStartOffset())
		ok = i >= 0 && max(se[i].StartOffset, floor) == max(last.StartOffset, floor) &&
			(i == len(se)-1 || se[i+1].StartOffset >= fut.LogEndOffset())
	}
	if !ok {
		ps.log.Info().Str("topic", f.topic).Int32("partition", f.index).Msg("replica truncated during its move, copying again")
		fut.ResetTo(f.src.LogStartOffset())
	}
	return ok
}

// copyRound appends to fut the batches of f.src from fut's log end to
// f.src's log end as the round starts, and returns the bytes copied.
func (ps *partitions) copyRound(f *futureReplica, fut *storage.Log) (n int64, err error) {
	end := f.src.LogEndOffset()
	for off := fut.LogEndOffset(); off < end; off = fut.LogEndOffset() {
		if f.stopped() {
			return n, errors.New("stopped")
		}
		reg, err := f.src.Read(off, end, 1<<20, true)
		if errors.Is(err, storage.ErrOffsetOutOfRange) {
			// Below the log start (retention) or beyond the end (truncated):
			// start again from the log start.
			if err := fut.ResetTo(f.src.LogStartOffset()); err != nil {
				ps.destFailed(f, err)
				return n, err
			}
			end = f.src.LogEndOffset()
			continue
		}
		if err != nil {
			if errors.Is(err, storage.ErrStorage) {
				ps.failPartitionDir(f.topic, f.index, err)
			}
			return n, err
		}
		if reg.Len == 0 {
			return n, fmt.Errorf("no batch at offset %d below the log end %d", off, end)
		}
		b, err := reg.ReadAll()
		reg.Release()
		if err != nil {
			ps.failPartitionDir(f.topic, f.index, err)
			return n, err
		}
		if _, err := fut.AppendReplicated(b); err != nil {
			ps.destFailed(f, err)
			return n, err
		}
		n += int64(len(b))
	}
	return n, nil
}

// destFailed takes the destination dir offline after a disk failure there.
func (ps *partitions) destFailed(f *futureReplica, err error) {
	if isDirFailure(err) {
		f.dest.fail(err)
	}
}

// swap puts the caught-up future log in the current one's place: closed,
// renamed to the partition's name, reopened and swapped into the map with
// the replication state of p (whose log is frozen). p's log is then
// closed and its directory removed.
func (ps *partitions) swap(f *futureReplica, p *partition, fut *storage.Log, frozenAt time.Time) error {
	// Records deleted from the current log while it was copied (retention,
	// DeleteRecords) stay deleted.
	if start := f.src.LogStartOffset(); fut.LogStartOffset() < start {
		if _, err := fut.DeleteRecords(start); err != nil && !errors.Is(err, storage.ErrPolicyViolation) {
			return err
		}
	}
	fut.SetAutoHighWatermark(false)
	fut.SetHighWatermark(f.src.HighWatermark())
	if err := fut.Close(); err != nil {
		ps.destFailed(f, err)
		return err
	}
	final := filepath.Join(f.dest.dir, partitionDir(f.topic, f.index))
	if exists(ps.fs, final) {
		ps.retireDir(final) // a leftover; the current log is elsewhere
	}
	// The marker tells a start-up after a crash from here until the old
	// directory is gone which of the two is the partition (scanDirs).
	if err := writeMarker(ps.fs, filepath.Join(f.path, movedMarker)); err != nil {
		ps.destFailed(f, err)
		return err
	}
	if err := ps.fs.Rename(f.path, final); err != nil {
		return err
	}
	// undo gives up the swap: the copy goes back to being the future
	// directory if the shutdown interrupted it (resumed after the
	// restart), else it is removed.
	undo := func() {
		if f.keep.Load() && ps.fs.Rename(final, f.path) == nil {
			return
		}
		ps.fs.RemoveAll(final)
	}
	k := tp{f.topic, f.index}
	t := ps.meta.Snapshot().TopicByID(f.topicID)
	if t == nil {
		ps.fs.RemoveAll(final)
		return errors.New("topic deleted")
	}
	l, err := storage.Open(final, ps.storageCfg(t), ps.clock.Now)
	if err != nil {
		undo()
		ps.destFailed(f, err)
		return err
	}
	if len(t.Partitions[f.index].Replicas) > 1 {
		l.RestoreHighWatermark()
	}
	np := &partition{topic: p.topic, index: p.index, topicID: p.topicID, log: l, dir: f.dest}
	np.leaderHW.Store(p.leaderHW.Load())
	ps.mu.Lock()
	if ps.m[k] != p || ps.closed || f.stopped() {
		ps.mu.Unlock()
		l.Close()
		undo()
		return errors.New("the partition changed during the swap")
	}
	p.rep.mu.Lock()
	np.rep.copyFrom(&p.rep)
	p.rep.role = roleNone
	if p.rep.hwCh != nil { // acks=all waiters on the old log: NOT_LEADER_OR_FOLLOWER, retried
		close(p.rep.hwCh)
		p.rep.hwCh = nil
	}
	p.rep.mu.Unlock()
	l.SetHighWatermark(max(l.HighWatermark(), f.src.HighWatermark()))
	ps.m[k] = np
	ps.setWhereLocked(k, f.dest)
	delete(ps.moves, k)
	ps.mu.Unlock()
	np.rep.mu.Lock()
	np.log.SetAutoHighWatermark(np.rep.role == roleLeader && len(np.rep.replicas) == 1)
	np.rep.mu.Unlock()
	frozen := ps.clock.Now().Sub(frozenAt)
	ps.reconcile.notify() // followers fetch into the new log
	p.wake()
	if err := p.log.Close(); err != nil {
		ps.log.Warn().Err(err).Str("topic", p.topic).Int32("partition", p.index).Msg("closing the moved replica's old log failed")
	}
	ps.retireDir(p.log.Dir())
	ps.fs.Remove(filepath.Join(final, movedMarker))
	ps.log.Info().Str("topic", p.topic).Int32("partition", p.index).Str("log_dir", f.dest.dir).Int64("log_end_offset", l.LogEndOffset()).Dur("appends_refused_for", frozen).Msg("replica moved to another log dir")
	return nil
}

// movedMarker, in a partition's directory, marks it as the complete copy
// of a log dir move whose old directory may still exist.
const movedMarker = "moved-from-another-log-dir"

// writeMarker creates an empty file at path, synced.
func writeMarker(fs vfs.FS, path string) error {
	f, err := fs.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	err = f.Sync()
	return errors.Join(err, f.Close())
}

// copyFrom copies o's replication state (both locked by the caller).
func (r *replicaState) copyFrom(o *replicaState) {
	r.role, r.topicID, r.leader, r.leaderEpoch, r.partitionEpoch = o.role, o.topicID, o.leader, o.leaderEpoch, o.partitionEpoch
	r.replicas, r.isr = slices.Clone(o.replicas), slices.Clone(o.isr)
	if o.followers != nil {
		r.followers = make(map[int32]*followerState, len(o.followers))
		for id, fs := range o.followers {
			c := *fs
			r.followers[id] = &c
		}
	}
}
