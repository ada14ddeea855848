package storage

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// evictPageCache drops the cached pages of every file in dir
// (posix_fadvise POSIX_FADV_DONTNEED; the files are clean after Close or
// fsync, so the next read goes to the disk).
func evictPageCache(tb testing.TB, dir string) {
	tb.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range ents {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		f.Sync()
		const fadvDontNeed = 4
		if _, _, errno := syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, fadvDontNeed, 0, 0); errno != 0 {
			tb.Fatalf("fadvise %s: %v", e.Name(), errno)
		}
		f.Close()
	}
}
