package demosvc

import (
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// What the demo service does to be drained, as a real service behind a
// load balancer would:
//   - on SIGTERM it stops accepting connections at once (new ones are
//     refused), lets the requests in flight finish (at most --drain-timeout),
//     then exits;
//   - POST /drain makes it answer every new request but GET /inflight with
//     503 "draining" (its health path too, so a load balancer's check takes
//     it out), while the requests in flight finish; it keeps running;
//   - POST /ready undoes a POST /drain: it takes new requests again;
//   - GET /inflight answers how many requests are in flight (itself not
//     counted), and every answer carries the count in X-Inflight;
//   - GET /slow?ms=N answers 200 after N milliseconds (at most 10 minutes),
//     a request to be in flight in tests.

// maxSlow bounds GET /slow.
const maxSlow = 10 * time.Minute

// drainState is the service's in-flight count and drain flag.
type drainState struct {
	inflight atomic.Int64
	draining atomic.Bool
}

// track counts the requests in flight around next and refuses new ones
// once draining; GET /inflight and POST /drain are neither counted nor
// refused.
func (s *service) track(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/inflight" || r.URL.Path == "/drain" || r.URL.Path == "/ready" {
			w.Header().Set("X-Inflight", strconv.FormatInt(s.drain.inflight.Load(), 10))
			next.ServeHTTP(w, r)
			return
		}
		if s.drain.draining.Load() {
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "draining\n")
			return
		}
		n := s.drain.inflight.Add(1)
		defer s.drain.inflight.Add(-1)
		w.Header().Set("X-Inflight", strconv.FormatInt(n, 10))
		next.ServeHTTP(w, r)
	})
}

// drainRoutes adds GET /inflight, POST /drain, POST /ready and GET /slow
// to mux.
func (s *service) drainRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /inflight", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strconv.FormatInt(s.drain.inflight.Load(), 10)+"\n")
	})
	mux.HandleFunc("POST /drain", func(w http.ResponseWriter, r *http.Request) {
		s.drain.draining.Store(true)
		s.log.printf("draining: %d in flight", s.drain.inflight.Load())
		io.WriteString(w, "draining\n")
	})
	mux.HandleFunc("POST /ready", func(w http.ResponseWriter, r *http.Request) {
		s.drain.draining.Store(false)
		s.log.printf("ready again: taking new requests")
		io.WriteString(w, "ready\n")
	})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
		if err != nil || ms < 0 || time.Duration(ms)*time.Millisecond > maxSlow {
			http.Error(w, "ms must be 0 to 600000", http.StatusBadRequest)
			return
		}
		time.Sleep(time.Duration(ms) * time.Millisecond)
		io.WriteString(w, "slow: "+strconv.Itoa(ms)+"ms\n")
	})
}
