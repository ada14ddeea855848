package broker

// Several log dirs (JBOD), after Kafka's LogManager.
//
// Every entry of log.dirs holds partition logs; the first also holds the
// metadata log. Each dir has its own meta.properties (node.id,
// directory.id, cluster.id once known), checked at start-up: a dir
// written by another node refuses start-up, as Kafka. Each partition's
// checkpoints (recovery point, high watermark, leader epochs, log start)
// live in its own directory, so in the log dir holding it.
//
// At start-up every online dir is scanned: a partition is found in
// whichever dir holds it, and one found in two dirs refuses start-up
// (Kafka: "Duplicate log directories"). A new partition goes to the
// online dir holding the fewest partitions. A dir that fails (an I/O
// error other than a full disk, at start-up or later) goes offline until
// the broker restarts; the broker reports its replicas there to the
// controller (dirfailure.go) and new partitions go elsewhere.

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/rs/zerolog"

	"gregor/storage"
	"gregor/storage/vfs"
)

// parseLogDirs refuses a dir of log.dirs listed twice or inside another
// one (both would scan the same partitions), comparing cleaned paths.
func parseLogDirs(dirs []string) ([]string, error) {
	if len(dirs) == 0 {
		return nil, errors.New("must name a directory")
	}
	out := make([]string, 0, len(dirs))
	clean := make([]string, 0, len(dirs))
	for _, raw := range dirs {
		d := filepath.Clean(raw)
		for _, o := range clean {
			switch {
			case o == d:
				return nil, fmt.Errorf("%s is listed twice", d)
			case strings.HasPrefix(d, o+string(filepath.Separator)):
				return nil, fmt.Errorf("%s is inside %s", d, o)
			case strings.HasPrefix(o, d+string(filepath.Separator)):
				return nil, fmt.Errorf("%s is inside %s", o, d)
			}
		}
		clean = append(clean, d)
		out = append(out, raw)
	}
	return out, nil
}

// logDirs returns the configured log dirs: Log.Dirs, or just Log.Dir.
func (c *LogConfig) logDirs() []string {
	if len(c.Dirs) > 0 {
		return c.Dirs
	}
	return []string{c.Dir}
}

const metaPropertiesFile = "meta.properties"

// futureSuffix ends the directory of a future replica: a partition being
// copied to another log dir (AlterReplicaLogDirs), as Kafka names it.
const futureSuffix = "-future"

// prepareLogDirs creates every log dir and checks or writes its
// meta.properties. A dir that cannot be prepared starts offline; the
// first (the metadata log's) must be online, and so must one dir at
// least. A meta.properties of another node or cluster is an error.
func prepareLogDirs(fs vfs.FS, dirs []string, nodeID int32, clusterID string, clock Clock, log zerolog.Logger) ([]*logDir, error) {
	out := make([]*logDir, 0, len(dirs))
	for i, dir := range dirs {
		d := newLogDir(dir, clock, log)
		err := fs.MkdirAll(dir, 0o755)
		if err == nil {
			d.id, err = loadMetaProperties(fs, dir, nodeID, clusterID)
			var mismatch *metaMismatchError
			if errors.As(err, &mismatch) {
				return nil, fmt.Errorf("broker: log dir %s: %w", dir, err)
			}
		}
		if err != nil {
			if i == 0 {
				return nil, fmt.Errorf("broker: log dir %s (holding the metadata log): %w", dir, err)
			}
			d.fail(fmt.Errorf("%w: %w", storage.ErrStorage, err))
		}
		out = append(out, d)
	}
	return out, nil
}

type metaMismatchError struct{ key, have, want string }

func (e *metaMismatchError) Error() string {
	return fmt.Sprintf("%s has %s=%s, this node has %s", metaPropertiesFile, e.key, e.have, e.want)
}

// loadMetaProperties reads dir's meta.properties (writing it when missing
// or when it lacks the cluster id, now known) and returns the dir's id.
func loadMetaProperties(fs vfs.FS, dir string, nodeID int32, clusterID string) ([16]byte, error) {
	var id [16]byte
	path := filepath.Join(dir, metaPropertiesFile)
	props := map[string]string{}
	raw, err := fs.ReadFile(path)
	switch {
	case err == nil:
		for line := range strings.Lines(string(raw)) {
			line = strings.TrimSpace(line)
			if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
				props[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
	case !os.IsNotExist(err):
		return id, err
	}
	if v, ok := props["node.id"]; ok && v != strconv.Itoa(int(nodeID)) {
		return id, &metaMismatchError{"node.id", v, strconv.Itoa(int(nodeID))}
	}
	if v, ok := props["cluster.id"]; ok && clusterID != "" && v != clusterID {
		return id, &metaMismatchError{"cluster.id", v, clusterID}
	}
	if raw, err := base64.RawURLEncoding.DecodeString(props["directory.id"]); err == nil && len(raw) == 16 {
		copy(id[:], raw)
	} else {
		id = newDirectoryID()
	}
	if props["directory.id"] != "" && props["node.id"] != "" && (props["cluster.id"] != "" || clusterID == "") {
		return id, nil
	}
	body := "#\n#written by gregor\nversion=1\nnode.id=" + strconv.Itoa(int(nodeID)) +
		"\ndirectory.id=" + base64.RawURLEncoding.EncodeToString(id[:]) + "\n"
	if clusterID != "" {
		body += "cluster.id=" + clusterID + "\n"
	}
	return id, replaceFile(fs, path, []byte(body))
}

// newDirectoryID returns a random directory id as Kafka's
// DirectoryId.random: a v4 UUID, none of the reserved ones (the first 100:
// UNASSIGNED, LOST, MIGRATING, ...), whose base64 form does not start
// with '-'.
func newDirectoryID() [16]byte {
	for {
		var id [16]byte
		rand.Read(id[:])
		id[6] = id[6]&0x0f | 0x40
		id[8] = id[8]&0x3f | 0x80
		if id[0] < 0xf8 || id[0] > 0xfb { // 111110xx encodes as '-'
			return id // v4 bits make it far above the reserved ids
		}
	}
}

// isDirFailure reports whether a failed write takes its log dir offline:
// an I/O error that is not the process's limit (isDiskFailure) nor a full
// disk. Kafka takes the dir offline on a full disk too; gregor answers
// KAFKA_STORAGE_ERROR to the write and keeps the dir, which takes writes
// again once space is freed (TestLeaderDiskFull).
func isDirFailure(err error) bool {
	return errors.Is(err, storage.ErrStorage) && isDiskFailure(err) &&
		!errors.Is(err, syscall.ENOSPC) && !errors.Is(err, syscall.EDQUOT)
}

// partitionDirName parses a log dir entry named topic-N. Anything else
// (-delete, -future, the metadata log, stray files) is not a partition.
func partitionDirName(name string) (tp, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 || strings.HasPrefix(name, "__cluster_metadata") {
		return tp{}, false
	}
	n, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != name[i+1:] {
		return tp{}, false
	}
	return tp{name[:i], int32(n)}, true
}

// exists reports whether path exists.
func exists(fs vfs.FS, path string) bool {
	_, err := fs.Stat(path)
	return err == nil
}

// scanned is what scanDirs found in one log dir.
type scanned struct {
	dir   *logDir
	parts []string // names of partition directories
}

// scanDirs lists the partition directories of every online log dir,
// recording in where which dir holds which partition, removes the
// leftovers of interrupted deletions (-delete) and returns the future
// directories of moves the last shutdown interrupted (-future, for
// keepFutures). A partition in two dirs is an error. A dir that cannot be
// read goes offline.
func (ps *partitions) scanDirs() ([]scanned, map[tp][]leftFuture, error) {
	var out []scanned
	futures := map[tp][]leftFuture{}
	seen := map[tp]*logDir{}
	dropped := map[*logDir][]string{} // partition directories removed
	for _, d := range ps.dirs {
		if d.offline() != nil {
			continue
		}
		entries, err := ps.fs.ReadDir(d.dir)
		if err != nil {
			d.fail(fmt.Errorf("%w: %w", storage.ErrStorage, err))
			continue
		}
		sc := scanned{dir: d}
		for _, e := range entries {
			name := e.Name()
			if !e.IsDir() {
				continue
			}
			if strings.HasSuffix(name, futureSuffix) {
				if k, ok := futureDirName(name); ok {
					futures[k] = append(futures[k], leftFuture{dir: d, path: filepath.Join(d.dir, name)})
					continue
				}
			}
			if strings.HasSuffix(name, "-delete") || strings.HasSuffix(name, futureSuffix) {
				ps.fs.RemoveAll(filepath.Join(d.dir, name)) // interrupted deletion, or a stray future dir
				continue
			}
			k, ok := partitionDirName(name)
			if !ok {
				continue
			}
			if other := seen[k]; other != nil {
				// A crash during a log dir move's swap leaves both
				// directories: the marked one is the complete copy.
				here, there := exists(ps.fs, filepath.Join(d.dir, name, movedMarker)), exists(ps.fs, filepath.Join(other.dir, name, movedMarker))
				if here == there {
					return nil, nil, fmt.Errorf("broker: duplicate log directories for partition %s-%d are found in both %s and %s; remove one",
						k.topic, k.index, other.dir, d.dir)
				}
				old := d
				if here {
					old = other
					seen[k] = d
					sc.parts = append(sc.parts, name)
				}
				ps.log.Info().Str("topic", k.topic).Int32("partition", k.index).Str("log_dir", old.dir).Msg("removing the old copy of a replica moved to another log dir")
				dropped[old] = append(dropped[old], name)
				ps.fs.RemoveAll(filepath.Join(old.dir, name))
				continue
			}
			seen[k] = d
			sc.parts = append(sc.parts, name)
		}
		out = append(out, sc)
	}
	for i, sc := range out {
		out[i].parts = slices.DeleteFunc(sc.parts, func(name string) bool { return slices.Contains(dropped[sc.dir], name) })
	}
	for k, d := range seen { // a move whose old directory was removed
		ps.fs.Remove(filepath.Join(d.dir, partitionDir(k.topic, k.index), movedMarker))
	}
	ps.mu.Lock()
	for k, d := range seen {
		ps.setWhereLocked(k, d)
	}
	ps.mu.Unlock()
	return out, futures, nil
}

// placeMissingOnOffline puts the partitions of keys that no online dir
// holds in the first offline dir, if a dir is offline at start-up: their
// logs may be there, and a fresh empty log elsewhere would let this
// replica lead without its records (Kafka, likewise, creates no log for
// an existing replica while a dir is offline). They answer
// KAFKA_STORAGE_ERROR and are reported offline to the controller.
func (ps *partitions) placeMissingOnOffline(keys []tp) {
	var off *logDir
	for _, d := range ps.dirs {
		if d.offline() != nil {
			off = d
			break
		}
	}
	if off == nil {
		return
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	n := 0
	for _, k := range keys {
		if ps.where[k] == nil {
			ps.setWhereLocked(k, off)
			n++
		}
	}
	if n > 0 {
		ps.log.Warn().Int("partitions", n).Str("log_dir", off.dir).Msg("replicas not found in the online log dirs taken for the offline one's")
	}
}

// place returns the log dir partition k is in, choosing one for a new
// partition: the online dir holding the fewest partitions (Kafka's
// default), the first of equals.
func (ps *partitions) place(k tp) (*logDir, error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if d := ps.where[k]; d != nil {
		return d, nil
	}
	var best *logDir
	for _, d := range ps.dirs {
		if d.offline() == nil && (best == nil || d.placed < best.placed) {
			best = d
		}
	}
	if best == nil {
		return nil, fmt.Errorf("broker: place %s-%d: %w: every log dir is offline", k.topic, k.index, storage.ErrStorage)
	}
	ps.setWhereLocked(k, best)
	return best, nil
}

// prefer places partition k on d if it is not placed yet
// (AlterReplicaLogDirs for a replica not here yet).
func (ps *partitions) prefer(k tp, d *logDir) {
	ps.mu.Lock()
	if ps.where[k] == nil && ps.m[k] == nil {
		ps.setWhereLocked(k, d)
	}
	ps.mu.Unlock()
}

// setWhereLocked records that partition k is in d. ps.mu must be held.
func (ps *partitions) setWhereLocked(k tp, d *logDir) {
	if old := ps.where[k]; old != nil {
		old.placed--
	}
	ps.where[k] = d
	d.placed++
}

// deleteWhereLocked forgets where partition k is. ps.mu must be held.
func (ps *partitions) deleteWhereLocked(k tp) {
	if old := ps.where[k]; old != nil {
		old.placed--
		delete(ps.where, k)
	}
}

// dirFor returns the log dir of a partition, or the first dir for one
// not placed (its logger and rate limit serve failure lines).
func (ps *partitions) dirFor(topic string, index int32) *logDir {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	if d := ps.where[tp{topic, index}]; d != nil {
		return d
	}
	return ps.dirs[0]
}

// byPath returns the log dir at path (cleaned), or nil.
func (ps *partitions) byPath(path string) *logDir {
	path = filepath.Clean(path)
	for _, d := range ps.dirs {
		if filepath.Clean(d.dir) == path {
			return d
		}
	}
	return nil
}

// onDir returns the partitions placed on d (open or not).
func (ps *partitions) onDir(d *logDir) []tp {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	var out []tp
	for k, kd := range ps.where {
		if kd == d {
			out = append(out, k)
		}
	}
	return out
}

// failPartitionDir takes the log dir of a partition offline after err.
func (ps *partitions) failPartitionDir(topic string, index int32, err error) {
	ps.dirFor(topic, index).fail(err)
}

// offline returns the error that took p's log dir offline, or nil.
func (p *partition) offline() error {
	if p.dir == nil {
		return nil
	}
	return p.dir.offline()
}
