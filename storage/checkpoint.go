package storage

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gregor/storage/vfs"
)

// Checkpoint files in the partition directory. Text, Kafka-like: a version
// line "0", then the payload.
const (
	recoveryPointFile   = "recovery-point-offset-checkpoint"
	highWatermarkFile   = "high-watermark"
	leaderEpochFile     = "leader-epoch-checkpoint"
	logStartFile        = "log-start-offset-checkpoint"
	cleanerFile         = "cleaner-offset-checkpoint"
	cleanShutdownMarker = ".clean-shutdown"
)

// writeFileAtomic writes data to path via a temp file, fsync and rename,
// then fsyncs the directory.
func writeFileAtomic(fsys vfs.FS, path string, data []byte, mode syncMode) error {
	tmp := path + ".tmp"
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return ioErr(err)
	}
	// On failure remove the temp file: a partial one on a full disk holds
	// space the log needs (Open would remove it, but only at restart).
	fail := func(err error) error {
		fsys.Remove(tmp)
		return ioErr(err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fail(err)
	}
	if mode == durable {
		if err := f.Sync(); err != nil {
			f.Close()
			return fail(err)
		}
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if err := fsys.Rename(tmp, path); err != nil {
		return fail(err)
	}
	if mode == deferred {
		return nil
	}
	return syncDir(fsys, filepath.Dir(path))
}

// syncMode says whether a file write is made durable on its own (fsync of
// the file, then of its directory after the rename) or left to a syncfs
// that covers many files at once (CloseAll).
type syncMode bool

const (
	durable  syncMode = true
	deferred syncMode = false
)

func syncDir(fsys vfs.FS, dir string) error {
	if err := fsys.SyncDir(dir); err != nil {
		return ioErr(err)
	}
	return nil
}

func writeOffsetCheckpoint(fsys vfs.FS, dir, name string, off int64, mode syncMode) error {
	return writeFileAtomic(fsys, filepath.Join(dir, name), fmt.Appendf(nil, "0\n%d\n", off), mode)
}

// readOffsetCheckpoint returns the stored offset, or ok=false if the file is
// missing or malformed.
func readOffsetCheckpoint(fsys vfs.FS, dir, name string) (int64, bool) {
	b, err := fsys.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return 0, false
	}
	lines := strings.Fields(string(b))
	if len(lines) != 2 || lines[0] != "0" {
		return 0, false
	}
	v, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || v < 0 {
		return 0, false
	}
	return v, true
}

// EpochEntry is one leader-epoch-checkpoint entry: the first offset written
// under a leader epoch.
type EpochEntry struct {
	Epoch       int32
	StartOffset int64
}

// leader-epoch-checkpoint: "0\n<count>\n<epoch> <startOffset>\n..." (Kafka's format).
func writeEpochCheckpoint(fsys vfs.FS, dir string, es []EpochEntry, mode syncMode) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "0\n%d\n", len(es))
	for _, e := range es {
		fmt.Fprintf(&b, "%d %d\n", e.Epoch, e.StartOffset)
	}
	return writeFileAtomic(fsys, filepath.Join(dir, leaderEpochFile), b.Bytes(), mode)
}

func readEpochCheckpoint(fsys vfs.FS, dir string) []EpochEntry {
	f, err := fsys.OpenFile(filepath.Join(dir, leaderEpochFile), os.O_RDONLY, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var lines []string
	for sc.Scan() {
		lines = append(lines, strings.TrimSpace(sc.Text()))
	}
	if len(lines) < 2 || lines[0] != "0" {
		return nil
	}
	n, err := strconv.Atoi(lines[1])
	if err != nil || n != len(lines)-2 {
		return nil
	}
	var es []EpochEntry
	for _, l := range lines[2:] {
		var e EpochEntry
		if _, err := fmt.Sscanf(l, "%d %d", &e.Epoch, &e.StartOffset); err != nil {
			return nil
		}
		if len(es) > 0 && (e.Epoch <= es[len(es)-1].Epoch || e.StartOffset < es[len(es)-1].StartOffset) {
			return nil
		}
		es = append(es, e)
	}
	return es
}
