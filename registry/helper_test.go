package registry

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The helper process is this test binary run again with
// OMNI_REGISTRY_HELPER set: another omni process using the same store.
const (
	helperModeEnv  = "OMNI_REGISTRY_HELPER"
	helperStoreEnv = "OMNI_REGISTRY_HELPER_STORE"
	helperKeyEnv   = "OMNI_REGISTRY_HELPER_KEY"
	helperNEnv     = "OMNI_REGISTRY_HELPER_N"
)

// TestHelperProcess is not a test: it is the helper process's main.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperModeEnv)
	if mode == "" {
		return
	}
	n, _ := strconv.Atoi(os.Getenv(helperNEnv))
	if err := helperMain(mode, os.Getenv(helperStoreEnv), os.Getenv(helperKeyEnv), n); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(3)
	}
	os.Exit(0)
}

// helperStore opens the store a storeKit's spec names.
func helperStore(spec string) (Store, error) {
	kind, arg, _ := strings.Cut(spec, ":")
	switch kind {
	case "bolt":
		return OpenBolt(arg)
	case "etcd":
		var cfg EtcdConfig
		if err := json.Unmarshal([]byte(arg), &cfg); err != nil {
			return nil, err
		}
		return OpenEtcd(context.Background(), cfg)
	}
	return nil, fmt.Errorf("bad store spec %q", spec)
}

func helperMain(mode, spec, key string, n int) error {
	if mode == "sleep" {
		fmt.Println("sleeping")
		time.Sleep(time.Hour)
		return nil
	}
	s, err := helperStore(spec)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx := context.Background()
	me := Owner{Operator: "helper@test", Command: "helper " + mode, Since: time.Now()}
	host, service, _ := strings.Cut(key, "/")
	switch mode {
	case "hold": // take key, say so, wait to be killed
		if _, err := s.Lock(ctx, []string{key}, me, 30*time.Second); err != nil {
			return err
		}
		fmt.Println("locked")
		time.Sleep(time.Hour)
	case "count": // n increments of the counter under the lock
		for range n {
			unlock, err := s.Lock(ctx, []string{key}, me, 30*time.Second)
			if err != nil {
				return err
			}
			if err := increment(s, 5*time.Millisecond); err != nil {
				return err
			}
			if err := unlock(); err != nil {
				return err
			}
		}
	case "write": // n complete runs, then one that writes until killed
		for i := range n {
			id, err := s.BeginEvent(Event{Host: host, Service: service, Command: fmt.Sprint("run ", i), Operator: me.Operator})
			if err != nil {
				return err
			}
			if err := s.Put(Record{Host: host, Service: service, State: "running", UpdatedAt: time.Now()}); err != nil {
				return err
			}
			err = s.FinishEvent(Event{ID: id, Host: host, Service: service, Command: fmt.Sprint("run ", i),
				Operator: me.Operator, Result: "ok",
				Steps: []EventStep{{Step: "start", Host: host, Service: service, Result: "ok"}}})
			if err != nil {
				return err
			}
		}
		if _, err := s.Lock(ctx, []string{key}, me, 30*time.Second); err != nil {
			return err
		}
		id, err := s.BeginEvent(Event{Host: host, Service: service, Command: "killed run", Operator: me.Operator})
		if err != nil {
			return err
		}
		fmt.Println("holding", id)
		for i := 0; ; i++ {
			// State and Config written together: a kill leaves both or neither.
			_, err := s.Update(host, service, func(rec *Record, _ bool) error {
				step := "step-" + strconv.Itoa(i)
				rec.State, rec.UpdatedAt = step, time.Now()
				rec.Config = &ConfigState{Applied: blobHash([]byte(step)), AppliedBy: step,
					Files: []ConfigFile{{Path: "/etc/" + step, Kind: "file", Hash: blobHash([]byte(step))}}}
				return nil
			})
			if err != nil {
				return err
			}
			if err := s.Put(Record{Host: fmt.Sprintf("bulk%d", i%50), Service: "svc", State: "running"}); err != nil {
				return err
			}
		}
	case "config": // n updates, each adding one file to the record's Config
		for i := range n {
			if _, err := s.Update(host, service, appendFile(fmt.Sprintf("/helper/%d", i))); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	return nil
}

// helper is a running helper process.
type helper struct {
	cmd   *exec.Cmd
	lines chan string
	errb  *syncBuffer

	waitOnce sync.Once
	waitErr  error
	waited   chan struct{}
}

func startHelper(t *testing.T, k storeKit, mode, key string, n int) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperModeEnv+"="+mode, helperStoreEnv+"="+k.spec,
		helperKeyEnv+"="+key, helperNEnv+"="+strconv.Itoa(n))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, lines: make(chan string, 16), errb: &syncBuffer{}, waited: make(chan struct{})}
	cmd.Stderr = h.errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		h.wait(10 * time.Second)
	})
	return h
}

// expect waits for a line of the helper's output that starts with prefix.
func (h *helper) expect(t *testing.T, prefix string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case line, ok := <-h.lines:
			if !ok {
				t.Fatalf("helper exited before %q: %v\n%s", prefix, h.wait(time.Second), h.stderr())
			}
			if strings.HasPrefix(line, prefix) {
				return line
			}
		case <-deadline:
			t.Fatalf("helper did not say %q within %s\n%s", prefix, timeout, h.stderr())
		}
	}
}

func (h *helper) kill(t *testing.T) {
	t.Helper()
	if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
}

// wait reaps the helper; an error if it failed or is still running after timeout.
func (h *helper) wait(timeout time.Duration) error {
	h.waitOnce.Do(func() {
		go func() {
			h.waitErr = h.cmd.Wait()
			close(h.waited)
		}()
	})
	select {
	case <-h.waited:
		return h.waitErr
	case <-time.After(timeout):
		return errors.New("still running")
	}
}

func (h *helper) stderr() string { return h.errb.String() }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
