package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"sync/atomic"

	"github.com/omni-fleet/omni/engine/config"
)

// redactor holds the inventory's secret values once it is loaded (see
// loadInventory): every write to omni's stdout and stderr goes through
// it, so that no secret a host prints (a start's error, a hook's output, a
// log tail, `service logs`) reaches the terminal, a log or -o json. A
// write is redacted as a whole: the output omni writes itself is whole
// lines; a host's output streamed by `service logs` comes in packets, and
// a secret cut in two by a packet's end would pass (see docs/config.md).
type redactor struct {
	secrets atomic.Pointer[config.Secrets]
}

func (r *redactor) set(s *config.Secrets) { r.secrets.Store(s) }

func (r *redactor) writer(w io.Writer) io.Writer {
	if w == nil {
		return nil
	}
	return redactingWriter{r, w}
}

type redactingWriter struct {
	r *redactor
	w io.Writer
}

func (rw redactingWriter) Write(p []byte) (int, error) {
	s := rw.r.secrets.Load()
	if s.None() {
		return rw.w.Write(p)
	}
	out := []byte(s.RedactText(string(p)))
	if t := bytes.TrimSpace(p); len(t) > 0 && t[0] == '{' && json.Valid(t) {
		out = s.RedactJSON(p) // a -o json document: its strings only
	}
	if _, err := rw.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}
