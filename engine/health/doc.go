// Package health runs a service's health checks after start and restart:
// the process is alive, something listens on the port, and an HTTP GET
// answers the expected status. Port and HTTP checks are dialled through the
// SSH connection, so they see the service exactly as the host does and need
// no network path from the operator's machine. Each check has a timeout per
// attempt and is retried at an interval; the report says which check failed
// and why.
package health
