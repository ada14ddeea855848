package vfs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestFaultFS(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		inject func(f *FaultFS)
		want   error // from the second write
		landed int   // bytes of the second (8-byte) write on disk
	}{
		{"none", func(*FaultFS) {}, nil, 8},
		{"space", func(f *FaultFS) { f.SetSpace(3) }, syscall.ENOSPC, 3},
		{"eio-on-path", func(f *FaultFS) { f.Fail(Rule{Ops: OpWrite, Path: "a.log", Err: syscall.EIO}) }, syscall.EIO, 0},
		{"other-path", func(f *FaultFS) { f.Fail(Rule{Ops: OpWrite, Path: "b.log", Err: syscall.EIO}) }, nil, 8},
		{"crash", func(f *FaultFS) { f.CrashAfter(0, false) }, ErrCrashed, 0},
		{"crash-torn", func(f *FaultFS) { f.CrashAfter(0, true) }, ErrCrashed, 4},
		{"crash-later", func(f *FaultFS) { f.CrashAfter(1, false) }, nil, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ffs := NewFaultFS(nil)
			path := filepath.Join(t.TempDir(), "a.log")
			f, err := ffs.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt([]byte("12345678"), 0); err != nil {
				t.Fatal(err)
			}
			tc.inject(ffs)
			_, err = f.WriteAt([]byte("abcdefgh"), 8)
			if !errors.Is(err, tc.want) && (tc.want != nil || err != nil) {
				t.Fatalf("write: %v, want %v", err, tc.want)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) != 8+tc.landed {
				t.Fatalf("file holds %q, want %d bytes of the second write", b, tc.landed)
			}
			ffs.Heal()
			if _, err := f.WriteAt([]byte("x"), 16); err != nil {
				t.Fatalf("write after Heal: %v", err)
			}
		})
	}
}

func TestFaultFSReadSync(t *testing.T) {
	t.Parallel()
	ffs := NewFaultFS(nil)
	dir := t.TempDir()
	f, err := ffs.OpenFile(filepath.Join(dir, "x"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var delayed []Op
	ffs.SetDelay(func(op Op, _ string) { delayed = append(delayed, op) })
	ffs.Fail(Rule{Ops: OpRead | OpSync, Err: syscall.EIO})
	if _, err := f.ReadAt(make([]byte, 1), 0); !errors.Is(err, syscall.EIO) {
		t.Fatalf("read: %v", err)
	}
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("sync: %v", err)
	}
	if err := ffs.SyncDir(dir); err != nil {
		t.Fatalf("syncdir (not matched): %v", err)
	}
	if len(delayed) != 3 || delayed[0] != OpRead || delayed[1] != OpSync || delayed[2] != OpSyncDir {
		t.Fatalf("delay hook saw %v", delayed)
	}
}
