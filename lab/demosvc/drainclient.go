package demosvc

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/omni-fleet/omni/internal/plural"
)

// Drain drains the demo service listening on addr (HOST:PORT), as a
// pre_stop hook would a real service behind a load balancer: POST /drain
// (it answers new requests 503), then GET /inflight until no request is in
// flight, every 100 ms. It fails when the service cannot be reached or
// requests are still in flight when ctx ends. With undo it POSTs /ready
// instead: the service takes new requests again.
func Drain(ctx context.Context, addr string, undo bool) error {
	client := &http.Client{Timeout: 5 * time.Second}
	base := "http://" + addr
	do := func(method, path string) (string, error) {
		req, err := http.NewRequestWithContext(ctx, method, base+path, nil)
		if err != nil {
			return "", err
		}
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		if err != nil {
			return "", err
		}
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("%s %s: %s", method, path, resp.Status)
		}
		return strings.TrimSpace(string(body)), nil
	}
	if undo {
		_, err := do(http.MethodPost, "/ready")
		return err
	}
	if _, err := do(http.MethodPost, "/drain"); err != nil {
		return err
	}
	for {
		out, err := do(http.MethodGet, "/inflight")
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(out)
		if err != nil {
			return fmt.Errorf("GET /inflight: %q is not a count", out)
		}
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s still in flight: %w", plural.N(n, "request", "requests"), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
