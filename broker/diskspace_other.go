//go:build !unix

package broker

// diskSpace is unknown without statfs.
func diskSpace(string) (total, usable int64) { return -1, -1 }
