//go:build unix

package broker

import "golang.org/x/sys/unix"

// diskSpace returns the total and usable bytes of the file system holding
// dir (statfs; usable is what an unprivileged writer may still use), or
// -1, -1 if it cannot be read.
func diskSpace(dir string) (total, usable int64) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return -1, -1
	}
	bs := uint64(st.Bsize)
	return int64(uint64(st.Blocks) * bs), int64(uint64(st.Bavail) * bs)
}
