//go:build !linux

package broker

import (
	"io"
	"net"
	"os"
)

func sendfile(tc *net.TCPConn, f *os.File, off, n int64) error {
	_, err := io.Copy(tc, io.NewSectionReader(f, off, n))
	return err
}
