#!/usr/bin/env bash
# Installs what `go test ./...` needs beyond Go: the OpenSSH server, whose
# /usr/sbin/sshd the tests start as processes of their own on loopback
# addresses (internal/testkit/sshtest), and systemd and sudo for the systemd hosts
# (internal/testkit/systemdtest), and HAProxy, which the drain tests start on
# loopback with an admin socket of their own (internal/testkit/haproxytest),
# and iproute2's ip for the reach tests' network namespaces
# (internal/testkit/netnstest), and a deploy user, omnitest, for the tests
# that log in as someone other than root, and nginx and redis-server, which
# the tests of real daemons start on loopback under the command manager
# (cli/real_daemons_*_test.go), and tcsh, fish, zsh and ksh, login shells
# the tests log in with (cli/hosts_login_shell*_e2e_test.go). Idempotent: installs nothing when they are
# there.
# The install does NOT start any service (policy-rc.d says no).
set -euo pipefail

SSHD=/usr/sbin/sshd
POLICY=/usr/sbin/policy-rc.d

# as_root runs a command as root: directly when root, else through sudo -n
# (never prompting: fails at once without a sudo rule).
as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	else
		sudo -n "$@"
	fi
}

# What is missing: the OpenSSH server; systemd and sudo, for the tests of
# the systemd manager, which boot systemd hosts in namespaces of their own
# (internal/testkit/systemdtest) and log in to them as a user with sudo.
need=()
[ -x "$SSHD" ] || need+=(openssh-server)
[ -x /lib/systemd/systemd ] || need+=(systemd)
[ -x /usr/bin/sudo ] || need+=(sudo)
[ -x /usr/sbin/haproxy ] || need+=(haproxy)
command -v ip >/dev/null 2>&1 || need+=(iproute2) # network namespaces (internal/testkit/netnstest)
[ -x /usr/bin/busybox ] || need+=(busybox)       # a host whose sh and ps are BusyBox's (engine/transport)
[ -x /usr/sbin/nginx ] || need+=(nginx-light)    # real daemons under the command manager (cli/real_daemons_*_test.go)
[ -x /usr/bin/redis-server ] || need+=(redis-server)
[ -x /usr/bin/tcsh ] || need+=(tcsh)                # deploy users whose login shell is not sh or bash (cli/hosts_login_shell*_e2e_test.go)
[ -x /usr/bin/fish ] || need+=(fish)
[ -x /usr/bin/zsh ] || need+=(zsh)
[ -x /usr/bin/ksh ] || need+=(ksh)
if [ ${#need[@]} -eq 0 ]; then
	echo "install-test-deps: $SSHD, systemd, sudo, haproxy, ip, busybox, nginx, redis-server, tcsh, fish, zsh and ksh are already installed"
else
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "install-test-deps: ${need[*]} missing and this is not an apt-based system;" >&2
		echo "install-test-deps: install them with your package manager" >&2
		exit 1
	fi

	# Debian's maintainer scripts ask policy-rc.d whether they may start
	# services; exit status 101 means "no". Create one only if there is none,
	# and remove only the one created here.
	created_policy=""
	remove_policy() {
		if [ -n "$created_policy" ]; then
			as_root rm -f "$POLICY"
		fi
	}
	trap remove_policy EXIT
	if [ ! -e "$POLICY" ] && [ ! -L "$POLICY" ]; then
		created_policy=yes
		printf '#!/bin/sh\nexit 101\n' | as_root tee "$POLICY" >/dev/null
		as_root chmod 0755 "$POLICY"
	fi

	echo "install-test-deps: installing ${need[*]} (no service will be started)"
	as_root apt-get update
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}"

	remove_policy
	created_policy=""
	trap - EXIT
fi

# sshd running as root needs its privilege separation directory, which lives
# on a tmpfs on most systems (the tests create it too when run as root).
if [ "$(id -u)" -eq 0 ] || sudo -n true 2>/dev/null; then
	as_root mkdir -p /run/sshd
fi

# A deploy user for the tests that log in as someone other than root
# (OpenSSH treats root's sessions differently: it refuses the "signal"
# request for them): omnitest, with /bin/sh, no password (locked to
# password logins; the tests' own sshd lets it in with their key), and
# passwordless sudo, as a deploy user with `sudo: true` in an inventory
# has. The tests that need it fail and say so when it is missing.
if [ "$(id -u)" -eq 0 ] || sudo -n true 2>/dev/null; then
	if ! id omnitest >/dev/null 2>&1; then
		as_root useradd --create-home --shell /bin/sh omnitest
		as_root usermod -p '*' omnitest
	fi
	if [ ! -e /etc/sudoers.d/omnitest ]; then
		printf 'omnitest ALL=(ALL) NOPASSWD: ALL\n' | as_root tee /etc/sudoers.d/omnitest.tmp >/dev/null
		as_root chmod 0440 /etc/sudoers.d/omnitest.tmp
		as_root mv /etc/sudoers.d/omnitest.tmp /etc/sudoers.d/omnitest
	fi
fi

echo "install-test-deps: ok"
