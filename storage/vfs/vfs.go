// Package vfs is the filesystem seam under storage: every file operation
// storage performs goes through an FS, so tests can substitute one that
// injects faults (FaultFS) while production uses the operating system's
// (Default).
//
// A File always wraps a real operating-system file: storage memory-maps
// index files and the broker sendfiles regions of segment files, both of
// which need the descriptor (Fd, OS). Writes made through a mapping are
// not seen by an FS.
package vfs

import (
	"io"
	"os"
)

// File is an open file.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.WriterAt
	io.Closer
	// Sync makes the file's data (and its size) durable: fdatasync.
	Sync() error
	Truncate(size int64) error
	// Fallocate allocates n bytes at off, extending the file; on a
	// filesystem without fallocate it extends the file with Truncate.
	Fallocate(off, n int64) error
	Stat() (os.FileInfo, error)
	Name() string
	// Fd is the file's descriptor, for mmap.
	Fd() uintptr
	// OS is the underlying operating-system file, for sendfile and other
	// reads that bypass the FS (they see no injected faults).
	OS() *os.File
}

// FS is a filesystem. Paths are operating-system paths.
type FS interface {
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	ReadFile(name string) ([]byte, error)
	Rename(oldpath, newpath string) error
	Remove(name string) error
	RemoveAll(name string) error
	MkdirAll(name string, perm os.FileMode) error
	ReadDir(name string) ([]os.DirEntry, error)
	Stat(name string) (os.FileInfo, error)
	Truncate(name string, size int64) error
	// SyncDir makes the directory's entries (creations, renames, removals)
	// durable.
	SyncDir(dir string) error
	// SyncFS makes everything written to the filesystem holding dir durable.
	SyncFS(dir string) error
}

// Default is the operating system's filesystem.
var Default FS = osFS{}

type osFS struct{}

type osFile struct{ *os.File }

func (f osFile) Sync() error                  { return fdatasync(f.File) }
func (f osFile) Fallocate(off, n int64) error { return fallocate(f.File, off, n) }
func (f osFile) OS() *os.File                 { return f.File }

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) ReadFile(name string) ([]byte, error)         { return os.ReadFile(name) }
func (osFS) Rename(oldpath, newpath string) error         { return os.Rename(oldpath, newpath) }
func (osFS) Remove(name string) error                     { return os.Remove(name) }
func (osFS) RemoveAll(name string) error                  { return os.RemoveAll(name) }
func (osFS) MkdirAll(name string, perm os.FileMode) error { return os.MkdirAll(name, perm) }
func (osFS) ReadDir(name string) ([]os.DirEntry, error)   { return os.ReadDir(name) }
func (osFS) Stat(name string) (os.FileInfo, error)        { return os.Stat(name) }
func (osFS) Truncate(name string, size int64) error       { return os.Truncate(name, size) }
func (osFS) SyncFS(dir string) error                      { return syncfs(dir) }

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
