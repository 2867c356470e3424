package tcpdelay

import (
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// OpenTUN creates (or attaches to) the TUN device name, without packet
// information: each Read returns one IP packet and each Write sends one.
// It needs CAP_NET_ADMIN and /dev/net/tun.
func OpenTUN(name string) (*os.File, error) {
	if len(name) >= 16 {
		return nil, fmt.Errorf("tcpdelay: interface name %q is longer than 15 bytes", name)
	}
	fd, err := syscall.Open("/dev/net/tun", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("tcpdelay: /dev/net/tun: %w", err)
	}
	const (
		iffTUN    = 0x0001
		iffNoPI   = 0x1000
		tunSetIFF = 0x400454ca
	)
	var req [40]byte // struct ifreq: the name, then the flags
	copy(req[:16], name)
	*(*uint16)(unsafe.Pointer(&req[16])) = iffTUN | iffNoPI
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), tunSetIFF, uintptr(unsafe.Pointer(&req[0]))); e != 0 {
		syscall.Close(fd)
		return nil, fmt.Errorf("tcpdelay: TUNSETIFF %s: %w", name, e)
	}
	return os.NewFile(uintptr(fd), name), nil
}

// Forward copies each packet read from src to dst once d has passed since
// it was read, in the order read, until a read or a write fails; it
// returns that error. A packet is never dropped or reordered: the delay is
// a fixed latency, not a rate limit, and the queue holds up to 65,536
// packets (a full queue holds up the reads, as a full link would).
func Forward(dst io.Writer, src io.Reader, d time.Duration) error {
	type packet struct {
		due time.Time
		b   []byte
	}
	queue := make(chan packet, 1<<16)
	failed := make(chan error, 1)
	go func() {
		for p := range queue {
			if wait := time.Until(p.due); wait > 0 {
				time.Sleep(wait)
			}
			if _, err := dst.Write(p.b); err != nil {
				failed <- err
				for range queue { // let the reader finish
				}
				return
			}
		}
		failed <- nil
	}()
	buf := make([]byte, 65536) // an IP packet's largest size
	for {
		n, err := src.Read(buf)
		if err != nil {
			close(queue)
			if werr := <-failed; werr != nil {
				return werr
			}
			return err
		}
		select {
		// A copy of its own size: the forwarder shares the machine with
		// what it measures, and allocates no more than it carries.
		case queue <- packet{time.Now().Add(d), append([]byte(nil), buf[:n]...)}:
		case err := <-failed:
			close(queue)
			return err
		}
	}
}
