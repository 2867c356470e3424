package plural

import "testing"

func TestN(t *testing.T) {
	for n, want := range map[int]string{0: "0 hosts", 1: "1 host", 2: "2 hosts"} {
		if got := N(n, "host", "hosts"); got != want {
			t.Errorf("N(%d) = %q, want %q", n, got, want)
		}
	}
}
