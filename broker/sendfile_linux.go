package broker

import (
	"fmt"
	"io"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// sendfile copies n bytes of f starting at off to the socket with
// sendfile(2), passing the offset explicitly so that concurrent readers of
// the same segment file never share a seek position. It waits for the
// socket to become writable through the runtime poller.
func sendfile(tc *net.TCPConn, f *os.File, off, n int64) error {
	sc, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	fc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	cerr := fc.Control(func(in uintptr) {
		werr := sc.Write(func(out uintptr) bool {
			for n > 0 {
				chunk := n
				if chunk > 1<<30 {
					chunk = 1 << 30
				}
				w, err := unix.Sendfile(int(out), int(in), &off, int(chunk))
				if w > 0 {
					n -= int64(w)
				}
				switch {
				case err == unix.EAGAIN:
					return false // wait until writable
				case err == unix.EINTR:
				case err != nil:
					serr = fmt.Errorf("sendfile: %w", err)
					return true
				case w == 0:
					serr = fmt.Errorf("sendfile: %w", io.ErrUnexpectedEOF)
					return true
				}
			}
			return true
		})
		if serr == nil {
			serr = werr
		}
	})
	if cerr != nil {
		return cerr
	}
	return serr
}
