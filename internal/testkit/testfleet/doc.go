// Package testfleet brings up a small real fleet for end-to-end tests: one
// OpenSSH sshd per host on its own loopback address (a worker reached
// through a bastion), an inventory that points at them with their own
// known_hosts and client key, and services that are real omni-demo-svc
// processes driven by the `command` manager, listening on real ports and
// answering HTTP health checks. Everything it starts is stopped, by PID,
// when the test ends.
package testfleet
