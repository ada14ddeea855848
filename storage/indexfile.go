package storage

import (
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"gregor/storage/vfs"
)

// indexFile is a .index or .timeindex file mapped into memory, as Kafka
// maps its indexes. It holds no file descriptor, so a segment costs one
// descriptor (its .log) instead of three, and appending an index entry is
// a store into memory instead of a pwrite per batch.
//
// The mapping always covers the whole file, so no access can fault past
// its end. Growing extends the file with fallocate (real blocks, never a
// sparse hole, so a full disk is an error from fallocate rather than a
// SIGBUS on a store) in chunks ahead of the entries; while a segment is
// being written its files may therefore end in zeroed space. trim cuts a
// file back to its entries; the segment does so when it is sealed, closed
// or truncated, and recovery rebuilds the active segment's indexes after
// a crash, so zeroed tails are never read as entries.
//
// Readers (ReadAt) hold mu shared; remapping (grow, trim, close) holds it
// exclusively. Writes come from the log's single writer and touch only
// bytes past the entries readers may read.
type indexFile struct {
	fs   vfs.FS
	path string
	mu   sync.RWMutex
	data []byte
	// limit, when > 0, is where growth stops short of doubling
	// (segment.index.bytes: the file never grows past what it may hold).
	limit int64
}

const minIndexMap = 64 << 10

func openIndexFile(fsys vfs.FS, path string, flag int) (*indexFile, error) {
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE|flag, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	x := &indexFile{fs: fsys, path: path}
	if fi.Size() > 0 {
		if x.data, err = unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
			return nil, err
		}
	}
	return x, nil
}

// Size is the file's size (its entries and, while growing, zeroed space).
func (x *indexFile) Size() int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return int64(len(x.data))
}

func (x *indexFile) ReadAt(b []byte, off int64) (int, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if off < 0 || off+int64(len(b)) > int64(len(x.data)) {
		return 0, io.EOF
	}
	return copy(b, x.data[off:]), nil
}

// WriteAt stores b at off, growing the file first if needed. Only the
// log's writer calls it.
func (x *indexFile) WriteAt(b []byte, off int64) (int, error) {
	end := off + int64(len(b))
	if end > int64(len(x.data)) {
		size := max(end, 2*int64(len(x.data)), minIndexMap)
		if x.limit > 0 {
			size = max(min(size, x.limit), end)
		}
		if err := x.grow(size); err != nil {
			return 0, err
		}
	}
	return copy(x.data[off:], b), nil
}

// Truncate sets the file's size to n (cutting it, or growing it with
// zeroes). Cutting needs no file descriptor (mremap and truncate by path),
// so a log can still be sealed and closed when the process has none left.
func (x *indexFile) Truncate(n int64) error {
	if n == int64(len(x.data)) {
		return nil
	}
	if n > int64(len(x.data)) {
		return x.grow(n)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	// Shrink the mapping first: a mapping shorter than the file cannot
	// fault, one longer than it can.
	if n == 0 {
		if err := unix.Munmap(x.data); err != nil {
			return err
		}
		x.data = nil
	} else {
		data, err := unix.Mremap(x.data, int(n), 0)
		if err != nil {
			return err
		}
		x.data = data
	}
	return x.fs.Truncate(x.path, n)
}

// grow extends the file to size with fallocate (blocks allocated, so a
// full disk is ENOSPC here rather than a SIGBUS later) and maps it again.
func (x *indexFile) grow(size int64) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	f, err := x.fs.OpenFile(x.path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Fallocate(int64(len(x.data)), size-int64(len(x.data))); err != nil {
		return err
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return err
	}
	if x.data != nil {
		unix.Munmap(x.data)
	}
	x.data = data
	return nil
}

// Sync makes the entries and the file's size durable: msync of the
// mapping (on Linux an fdatasync of the file), or, with nothing mapped, an
// fdatasync through a descriptor opened for it.
func (x *indexFile) Sync() error {
	if len(x.data) > 0 {
		return unix.Msync(x.data, unix.MS_SYNC)
	}
	f, err := x.fs.OpenFile(x.path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// Close unmaps the file.
func (x *indexFile) Close() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	var err error
	if x.data != nil {
		err = unix.Munmap(x.data)
		x.data = nil
	}
	return err
}
