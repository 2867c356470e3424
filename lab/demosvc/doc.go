// Package demosvc is a small but real network service used by omni's tests
// and local lab (`omni lab service` runs Main): a process that starts
// (optionally slowly), answers GET /healthz (or its --health-path, with its
// --health-status), writes a pidfile and a log, stops gracefully on SIGTERM
// (optionally slowly: it refuses new connections at once and finishes the
// requests in flight), can be drained (POST /drain), reports its requests
// in flight (GET /inflight) and serves slow ones (GET /slow?ms=N), and can
// be told to ignore SIGTERM, to report itself
// unhealthy or to crash, so that every path of the service managers and
// health checks can be exercised against a real process.
//
// The program is cmd/omni-demo-svc; tests get a built binary from
// demosvctest.Binary. With the `command` manager it is driven like this
// (the start command must return, so the service is detached with setsid
// and all its standard streams are redirected):
//
//	start:  setsid nohup /path/omni-demo-svc --name "$OMNI_SERVICE" --listen "$OMNI_ADDRESS:8080" --pidfile /tmp/x.pid --log /tmp/x.log >/dev/null 2>&1 </dev/null &
//	status: cat /tmp/x.pid 2>/dev/null && kill -0 "$(cat /tmp/x.pid)"
//	logs:   tail -n "$OMNI_LINES" /tmp/x.log
package demosvc
