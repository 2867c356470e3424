// Package lab runs a local "lab" fleet: the hosts of an inventory as SSH
// endpoints on loopback addresses of this machine, and its services as
// real local processes, so that omni can be tried, tested and benchmarked
// for real without any remote machine. It is what `omni lab up|down|status`
// drive.
//
// # Processes
//
// `omni lab up` (Up) starts ONE background process, `omni lab serve --dir
// DIR` (Serve), detached from the terminal (its own session, stdin from
// /dev/null, output to DIR/lab.log). It runs one in-process SSH server
// (github.com/gliderlabs/ssh) per host, each on its own loopback address
// (host i of the lab gets 127.77.T+i/250.i%250+1, port 2222 by default,
// where T is the first third octet of a block of addresses no other lab
// holds), with:
//
//   - the host's own ed25519 host key (written to DIR/known_hosts);
//   - public-key authentication of the current user with the lab's client
//     key (DIR/client_key) and nothing else;
//   - "exec" requests run as `sh -c CMD` as the current user in the user's
//     home directory, in a new session and process group, with
//     OMNI_LAB_DIR=DIR and OMNI_LAB_HOST=HOST in the environment; stdout,
//     stderr and the exit status (or signal) go back to the client, and the
//     process group is killed when the session closes before the command
//     ends (or the connection drops, or the server stops). Shells, ptys and
//     subsystems are refused;
//   - "direct-tcpip" channels to 127.0.0.0/8 only: bastion hops (a host
//     with `via` is reached through its bastion's server) and omni's port
//     and HTTP health checks, which dial through the SSH connection.
//
// Services run as `omni lab service` processes (package demosvc), started
// and stopped through the lab's SSH by omni's own engine and `command`
// manager. `lab up` starts each through engine.Run, as any `omni service
// start --no-deps` is run: under the run lock, with an event in the lab's
// registry; it starts the dependencies first itself. They inherit OMNI_LAB_DIR from their session, which is how
// `omni lab down` (Down) finds every one of them, together with their
// pidfiles under DIR/run.
//
// # Files
//
// Everything lives in the lab directory DIR (default
// $XDG_STATE_HOME/omni/lab, else ~/.local/state/omni/lab):
//
//	lab.json        the lab: serve PID, source inventory, hosts and endpoints (State)
//	serve.json      what serve needs: user, client public key, port, host key seeds (0600)
//	endpoints.json  written by serve once every endpoint listens
//	client_key      the client's private key (0600), client_key.pub
//	known_hosts     one line per host: [addr]:port ssh-ed25519 ...
//	inventory.yaml  the lab inventory: the source fleet with lab addresses, keys, command managers
//	registry.db     omni's service registry for the lab (a bbolt file; state.json in older labs)
//	run/, logs/     the services' pidfiles and logs (HOST.SERVICE.pid, HOST.SERVICE.log)
//	lab.log         serve's own log
//
// `omni lab down` removes them all (and DIR when it is left empty).
//
// # Lifecycle
//
// `lab up` refuses to run while a lab runs in DIR (or another lab command
// works on it: DIR/.lock). What a lab whose serve process died left behind
// is stopped first. Errors before the hosts accept SSH leave nothing
// running (but lab.log); a service that fails to start leaves the lab up.
// At most MaxServices service processes are started: bigger fleets, for
// scale tests and benchmarks, come up with --no-services (1,000 hosts in
// about 1.5 s, one serve process of about 35 MiB).
package lab
