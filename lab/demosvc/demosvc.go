package demosvc

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// config is the command line.
type config struct {
	name          string
	listen        string
	readyAfter    time.Duration
	stopDelay     time.Duration
	drainTimeout  time.Duration
	exitAfter     time.Duration
	ignoreSIGTERM bool
	unhealthy     bool
	healthPath    string
	healthStatus  int
	pidfile       string
	logPath       string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("omni-demo-svc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.name, "name", "omni-demo-svc", "service name, in the log and on GET /")
	fs.StringVar(&c.listen, "listen", "", "HTTP address ADDR:PORT (none: no HTTP server)")
	fs.DurationVar(&c.readyAfter, "ready-after", 0, "simulate a slow start: listen only after this long")
	fs.DurationVar(&c.stopDelay, "stop-delay", 0, "on SIGTERM, stop accepting and wait this long before exiting")
	fs.DurationVar(&c.drainTimeout, "drain-timeout", 30*time.Second, "on SIGTERM, wait at most this long for the requests in flight")
	fs.DurationVar(&c.exitAfter, "exit-after", 0, "crash (exit 1, pidfile left behind) after this long")
	fs.BoolVar(&c.ignoreSIGTERM, "ignore-sigterm", false, "log and ignore SIGTERM (SIGINT still stops)")
	fs.BoolVar(&c.unhealthy, "unhealthy", false, "answer the health path with 503")
	fs.StringVar(&c.healthPath, "health-path", "/healthz", "path of the health check (GET)")
	fs.IntVar(&c.healthStatus, "health-status", http.StatusOK, "status the health path answers with when healthy")
	fs.StringVar(&c.pidfile, "pidfile", "", "write the PID here, remove it on a clean exit")
	fs.StringVar(&c.logPath, "log", "", "append timestamped log lines here (default: stderr)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "omni-demo-svc: unexpected argument %q\n", fs.Arg(0))
		return config{}, errors.New("usage")
	}
	if !strings.HasPrefix(c.healthPath, "/") {
		fmt.Fprintf(stderr, "omni-demo-svc: --health-path %q must start with \"/\"\n", c.healthPath)
		return config{}, errors.New("usage")
	}
	if c.healthStatus < 100 || c.healthStatus > 599 {
		fmt.Fprintf(stderr, "omni-demo-svc: --health-status %d is not an HTTP status (100-599)\n", c.healthStatus)
		return config{}, errors.New("usage")
	}
	return c, nil
}

// Main runs the demo service with args (without the program name) and
// returns its exit code: 0 after a graceful stop, 1 on a failure or a
// simulated crash, 2 on a usage error.
func Main(args []string) int {
	cfg, err := parseFlags(args, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	out := io.Writer(os.Stderr)
	if cfg.logPath != "" {
		f, err := os.OpenFile(cfg.logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			fmt.Fprintf(os.Stderr, "omni-demo-svc: %v\n", err)
			return 1
		}
		defer f.Close()
		out = f
	}
	s := &service{cfg: cfg, log: &logger{out: out, prefix: fmt.Sprintf("%s[%d]: ", cfg.name, os.Getpid())}}
	return s.run()
}

// logger writes timestamped lines; the HTTP handlers log concurrently.
type logger struct {
	mu     sync.Mutex
	out    io.Writer
	prefix string
}

func (l *logger) printf(format string, args ...any) {
	line := time.Now().UTC().Format("2006-01-02T15:04:05.000Z") + " " + l.prefix + fmt.Sprintf(format, args...) + "\n"
	l.mu.Lock()
	defer l.mu.Unlock()
	io.WriteString(l.out, line)
}

type service struct {
	cfg   config
	log   *logger
	drain drainState // in flight, draining (drain.go)
}

func (s *service) run() int {
	// Signals first, so that a SIGTERM sent right after the pidfile
	// appears is never the default (fatal) one.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	if s.cfg.pidfile != "" {
		if err := writePidfile(s.cfg.pidfile); err != nil {
			s.log.printf("pidfile: %v", err)
			return 1
		}
	}
	s.log.printf("started")

	ready := time.After(s.cfg.readyAfter)
	var crash <-chan time.Time
	if s.cfg.exitAfter > 0 {
		crash = time.After(s.cfg.exitAfter)
	}
	var srv *http.Server
	serveErr := make(chan error, 1)
	for {
		select {
		case <-ready:
			ready = nil
			if s.cfg.listen != "" {
				ln, err := net.Listen("tcp", s.cfg.listen)
				if err != nil {
					s.log.printf("listen: %v", err)
					s.removePidfile()
					return 1
				}
				srv = &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second}
				go func() { serveErr <- srv.Serve(ln) }()
				s.log.printf("ready, listening on %s", ln.Addr())
			} else {
				s.log.printf("ready")
			}
		case sig := <-sigs:
			if sig == syscall.SIGTERM && s.cfg.ignoreSIGTERM {
				s.log.printf("ignoring SIGTERM")
				continue
			}
			return s.stop(sig, srv)
		case <-crash:
			s.log.printf("crashing (exit-after %s)", s.cfg.exitAfter)
			return 1
		case err := <-serveErr:
			s.log.printf("serve: %v", err)
			s.removePidfile()
			return 1
		}
	}
}

// stop stops accepting connections at once, lets the requests in flight
// finish (at most stop-delay + drain-timeout) and in-flight work for
// stop-delay, and exits cleanly.
func (s *service) stop(sig os.Signal, srv *http.Server) int {
	s.log.printf("stopping (%s): %d in flight", sigName(sig), s.drain.inflight.Load())
	shutdown := make(chan struct{})
	go func() {
		defer close(shutdown)
		if srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.stopDelay+s.cfg.drainTimeout)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				s.log.printf("drain: %v: %d still in flight", err, s.drain.inflight.Load())
			}
		}
	}()
	time.Sleep(s.cfg.stopDelay)
	<-shutdown
	s.removePidfile()
	s.log.printf("stopped")
	return 0
}

func sigName(sig os.Signal) string {
	switch sig {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	}
	return sig.String()
}

func (s *service) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, s.cfg.name+"\n")
	})
	s.drainRoutes(mux)
	// The health path is matched by hand, not as a mux pattern: it may be
	// "/" or hold characters that patterns give a meaning to.
	return s.logRequests(s.track(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != s.cfg.healthPath || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			mux.ServeHTTP(w, r)
			return
		}
		if s.cfg.unhealthy {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "unhealthy")
			return
		}
		w.WriteHeader(s.cfg.healthStatus)
		io.WriteString(w, "ok")
	})))
}

// statusRecorder remembers the status a handler wrote, for the log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (s *service) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		s.log.printf("%s %s %d from %s", r.Method, r.URL.Path, rec.status, r.RemoteAddr)
	})
}

// writePidfile writes the PID through a rename, so that a reader never
// sees a half-written file.
func writePidfile(path string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// removePidfile removes the pidfile if it still holds our PID (a newer
// instance may have replaced it).
func (s *service) removePidfile() {
	if s.cfg.pidfile == "" {
		return
	}
	b, err := os.ReadFile(s.cfg.pidfile)
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		return
	}
	if err := os.Remove(s.cfg.pidfile); err != nil {
		s.log.printf("pidfile: %v", err)
	}
}
