package transport

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

// TestListenUnixAcceptsOnceVisible: a client that dials the master's
// socket as soon as the path exists is never refused. (A socket bound at
// its path, then listening, refused about one such client in a hundred on
// a 2-core machine: a run then took a starting master for a dead one.)
func TestListenUnixAcceptsOnceVisible(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.sock")
	for i := range 2000 {
		dialled := make(chan error, 1)
		go func() {
			for {
				if _, err := os.Stat(path); err == nil {
					c, err := net.Dial("unix", path)
					if c != nil {
						c.Close()
					}
					dialled <- err
					return
				}
			}
		}()
		ln, err := listenUnix(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := <-dialled; err != nil {
			t.Fatalf("attempt %d: a client that saw the socket was refused: %v", i, err)
		}
		ln.Close()
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), "m.new")); !os.IsNotExist(err) {
		t.Fatalf("temporary socket left behind: %v", err)
	}
}
