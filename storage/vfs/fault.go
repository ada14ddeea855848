package vfs

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"sync"
	"syscall"
)

// Op is a kind of filesystem operation, as a bit so a Rule can match several.
type Op uint32

const (
	OpOpen Op = 1 << iota
	OpRead
	OpWrite // Write, WriteAt
	OpSync  // File.Sync
	OpTruncate
	OpFallocate
	OpRename
	OpRemove
	OpMkdir
	OpReadDir
	OpStat
	OpSyncDir
	OpSyncFS

	// OpMutate is every operation that changes what is on disk (the ones
	// CrashAfter counts).
	OpMutate = OpWrite | OpTruncate | OpFallocate | OpRename | OpRemove | OpMkdir
	OpAll    = ^Op(0)
)

// ErrCrashed is returned by every mutating operation once CrashAfter's
// budget is spent.
var ErrCrashed = errors.New("vfs: crashed")

// Rule makes matching operations fail with Err (syscall.EIO, syscall.ENOSPC,
// ...). Path matches when it is a substring of the operation's path ("" is
// every path).
type Rule struct {
	Ops  Op
	Path string
	Err  error
}

// FaultFS wraps an FS and injects faults. Its methods are safe for
// concurrent use and may be called while the FS is in use: a test can make
// a disk fail, fill or slow down at any moment and heal it again.
type FaultFS struct {
	base FS

	mu    sync.Mutex
	rules []Rule
	space int64 // bytes writes may still add; < 0: unlimited
	crash int64 // mutating operations left before the crash; < 0: never
	torn  bool  // the write that crosses the space or crash limit writes what fits
	count int64 // mutating operations seen
	delay func(op Op, path string)
}

// NewFaultFS returns a FaultFS over base (nil means Default) injecting
// nothing.
func NewFaultFS(base FS) *FaultFS {
	if base == nil {
		base = Default
	}
	return &FaultFS{base: base, space: -1, crash: -1}
}

// Fail adds a rule.
func (f *FaultFS) Fail(r Rule) {
	f.mu.Lock()
	f.rules = append(f.rules, r)
	f.mu.Unlock()
}

// SetSpace lets writes add n more bytes; the write that would exceed it
// writes what fits (a torn write) and fails with ENOSPC, as do all later
// writes until SetSpace raises it. n < 0 is unlimited.
func (f *FaultFS) SetSpace(n int64) {
	f.mu.Lock()
	f.space = n
	f.mu.Unlock()
}

// CrashAfter lets n more mutating operations (OpMutate) succeed; operation
// n+1 and every later one fail with ErrCrashed and change nothing, except
// that with torn set the first failing write writes its first half. What
// reached the files stays there, as after a process crash: reopen the
// directory with Default to check recovery. n < 0 never crashes.
func (f *FaultFS) CrashAfter(n int64, torn bool) {
	f.mu.Lock()
	f.crash, f.torn = n, torn
	f.mu.Unlock()
}

// Mutations returns how many mutating operations have been attempted.
func (f *FaultFS) Mutations() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count
}

// SetDelay installs a hook called before every operation (outside the
// FaultFS's lock), for a slow or stalling disk; nil removes it.
func (f *FaultFS) SetDelay(fn func(op Op, path string)) {
	f.mu.Lock()
	f.delay = fn
	f.mu.Unlock()
}

// Heal removes every rule, the space limit, the crash and the delay.
func (f *FaultFS) Heal() {
	f.mu.Lock()
	f.rules, f.space, f.crash, f.delay = nil, -1, -1, nil
	f.mu.Unlock()
}

// check runs the delay hook and returns the error a rule or a crash
// injects for op on path.
func (f *FaultFS) check(op Op, path string) error {
	f.mu.Lock()
	delay := f.delay
	err := f.checkLocked(op, path)
	f.mu.Unlock()
	if delay != nil {
		delay(op, path)
	}
	return err
}

func (f *FaultFS) checkLocked(op Op, path string) error {
	if op&OpMutate != 0 {
		f.count++
		if f.crash == 0 {
			return ErrCrashed
		}
		if f.crash > 0 {
			f.crash--
		}
	}
	for _, r := range f.rules {
		if r.Ops&op != 0 && strings.Contains(path, r.Path) {
			return &fs.PathError{Op: opName(op), Path: path, Err: r.Err}
		}
	}
	return nil
}

// allowWrite decides how many of n bytes a write may write and the error
// it then returns.
func (f *FaultFS) allowWrite(path string, n int) (int, error) {
	f.mu.Lock()
	delay := f.delay
	allowed, err := f.allowWriteLocked(path, n)
	f.mu.Unlock()
	if delay != nil {
		delay(OpWrite, path)
	}
	return allowed, err
}

func (f *FaultFS) allowWriteLocked(path string, n int) (int, error) {
	if f.crash == 0 && f.torn {
		// The first write after the crash point is torn: half of it lands.
		f.count++
		f.torn = false
		return n / 2, ErrCrashed
	}
	if err := f.checkLocked(OpWrite, path); err != nil {
		return 0, err
	}
	if f.space >= 0 {
		if int64(n) > f.space {
			k := int(f.space)
			f.space = 0
			return k, &fs.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}
		}
		f.space -= int64(n)
	}
	return n, nil
}

func opName(op Op) string {
	switch op {
	case OpOpen:
		return "open"
	case OpRead:
		return "read"
	case OpWrite:
		return "write"
	case OpSync:
		return "sync"
	case OpTruncate:
		return "truncate"
	case OpFallocate:
		return "fallocate"
	case OpRename:
		return "rename"
	case OpRemove:
		return "remove"
	case OpMkdir:
		return "mkdir"
	case OpReadDir:
		return "readdir"
	case OpStat:
		return "stat"
	case OpSyncDir:
		return "syncdir"
	case OpSyncFS:
		return "syncfs"
	}
	return "op"
}

func (f *FaultFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	op := OpOpen
	if flag&(os.O_CREATE|os.O_TRUNC) != 0 {
		// Creating or truncating changes the disk.
		if err := f.check(OpWrite, name); err != nil {
			return nil, err
		}
	}
	if err := f.check(op, name); err != nil {
		return nil, err
	}
	file, err := f.base.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f}, nil
}

func (f *FaultFS) ReadFile(name string) ([]byte, error) {
	if err := f.check(OpRead, name); err != nil {
		return nil, err
	}
	return f.base.ReadFile(name)
}

func (f *FaultFS) Rename(oldpath, newpath string) error {
	if err := f.check(OpRename, newpath); err != nil {
		return err
	}
	return f.base.Rename(oldpath, newpath)
}

func (f *FaultFS) Remove(name string) error {
	if err := f.check(OpRemove, name); err != nil {
		return err
	}
	return f.base.Remove(name)
}

func (f *FaultFS) RemoveAll(name string) error {
	if err := f.check(OpRemove, name); err != nil {
		return err
	}
	return f.base.RemoveAll(name)
}

func (f *FaultFS) MkdirAll(name string, perm os.FileMode) error {
	if err := f.check(OpMkdir, name); err != nil {
		return err
	}
	return f.base.MkdirAll(name, perm)
}

func (f *FaultFS) ReadDir(name string) ([]os.DirEntry, error) {
	if err := f.check(OpReadDir, name); err != nil {
		return nil, err
	}
	return f.base.ReadDir(name)
}

func (f *FaultFS) Stat(name string) (os.FileInfo, error) {
	if err := f.check(OpStat, name); err != nil {
		return nil, err
	}
	return f.base.Stat(name)
}

func (f *FaultFS) Truncate(name string, size int64) error {
	if err := f.check(OpTruncate, name); err != nil {
		return err
	}
	return f.base.Truncate(name, size)
}

func (f *FaultFS) SyncDir(dir string) error {
	if err := f.check(OpSyncDir, dir); err != nil {
		return err
	}
	return f.base.SyncDir(dir)
}

func (f *FaultFS) SyncFS(dir string) error {
	if err := f.check(OpSyncFS, dir); err != nil {
		return err
	}
	return f.base.SyncFS(dir)
}

type faultFile struct {
	File
	fs *FaultFS
}

func (f *faultFile) Read(b []byte) (int, error) {
	if err := f.fs.check(OpRead, f.Name()); err != nil {
		return 0, err
	}
	return f.File.Read(b)
}

func (f *faultFile) ReadAt(b []byte, off int64) (int, error) {
	if err := f.fs.check(OpRead, f.Name()); err != nil {
		return 0, err
	}
	return f.File.ReadAt(b, off)
}

func (f *faultFile) Write(b []byte) (int, error) {
	n, ferr := f.fs.allowWrite(f.Name(), len(b))
	if n == 0 {
		return 0, ferr
	}
	k, err := f.File.Write(b[:n])
	if err != nil {
		return k, err
	}
	return k, ferr
}

func (f *faultFile) WriteAt(b []byte, off int64) (int, error) {
	n, ferr := f.fs.allowWrite(f.Name(), len(b))
	if n == 0 {
		return 0, ferr
	}
	k, err := f.File.WriteAt(b[:n], off)
	if err != nil {
		return k, err
	}
	return k, ferr
}

func (f *faultFile) Sync() error {
	if err := f.fs.check(OpSync, f.Name()); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *faultFile) Truncate(size int64) error {
	if err := f.fs.check(OpTruncate, f.Name()); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

func (f *faultFile) Fallocate(off, n int64) error {
	if err := f.fs.check(OpFallocate, f.Name()); err != nil {
		return err
	}
	f.fs.mu.Lock()
	var err error
	if f.fs.space >= 0 {
		if n > f.fs.space {
			err = &fs.PathError{Op: "fallocate", Path: f.Name(), Err: syscall.ENOSPC}
		} else {
			f.fs.space -= n
		}
	}
	f.fs.mu.Unlock()
	if err != nil {
		return err
	}
	return f.File.Fallocate(off, n)
}

func (f *faultFile) Stat() (os.FileInfo, error) {
	if err := f.fs.check(OpStat, f.Name()); err != nil {
		return nil, err
	}
	return f.File.Stat()
}
