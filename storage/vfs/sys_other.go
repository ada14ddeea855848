//go:build !linux

package vfs

import (
	"os"
	"syscall"
)

func fdatasync(f *os.File) error { return f.Sync() }

func fallocate(f *os.File, off, n int64) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() >= off+n {
		return nil
	}
	return f.Truncate(off + n)
}

// syncfs has no per-filesystem equivalent here: sync(2) everything.
func syncfs(string) error {
	syscall.Sync()
	return nil
}
