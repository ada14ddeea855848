//go:build !linux

package storage

import (
	"os"
	"syscall"
)

func fdatasync(f *os.File) error { return f.Sync() }

// syncfs has no per-filesystem equivalent here: sync(2) everything.
func syncfs(dir string) error {
	syscall.Sync()
	return nil
}
