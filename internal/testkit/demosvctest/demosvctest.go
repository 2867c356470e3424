package demosvctest

import (
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Package is the import path of the demo service's main package.
const Package = "github.com/omni-fleet/omni/lab/demosvc/cmd/omni-demo-svc"

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Binary builds omni-demo-svc once per test binary and returns its path.
//
// The binary goes to a directory under os.TempDir that is the same for
// every run of the calling package's tests (keyed by its directory), and
// replaces the previous build atomically by a rename: a temporary
// directory per run would be left behind by every run, since a helper
// cannot clean up after the whole test binary, while a process still
// running an older build keeps its file. Go's build cache keeps rebuilds
// cheap. `go test` puts its own go first in PATH, so the service is built
// by the toolchain that runs the tests.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() { buildPath, buildErr = build() })
	if buildErr != nil {
		t.Fatalf("build demo service: %v", buildErr)
	}
	return buildPath
}

func build() (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", err
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	h := fnv.New64a()
	h.Write([]byte(wd))
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("omni-demosvctest-%d-%x", os.Getuid(), h.Sum64()))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	built := filepath.Join(tmp, "omni-demo-svc")

	cmd := exec.Command(goTool, "build", "-o", built, Package)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", Package, err, strings.TrimSpace(string(out)))
	}
	path := filepath.Join(dir, "omni-demo-svc")
	if err := os.Rename(built, path); err != nil {
		return "", err
	}
	return path, nil
}
