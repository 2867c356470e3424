// Package sshtest starts real OpenSSH sshd servers on loopback addresses for
// tests of any package that talks SSH.
//
// Each Server is a /usr/sbin/sshd process of its own, with its own host
// key, config and authorized_keys in the test's temporary directory, which
// accepts the test binary's client key (ClientKey) for the current user.
// It is stopped when the test ends. Give each test its own 127.0.0.x
// address so that servers of tests running in parallel never meet.
//
// Commands run by these servers do not read the tester's shell start-up
// files (~/.bashrc and the like), whose side effects have no place in tests.
//
// A machine without sshd fails the tests (it never skips them): run
// scripts/install-test-deps.sh first.
package sshtest
