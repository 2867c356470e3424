// Package tcpdelay joins two TUN devices with a fixed delay each way: a
// network delay for benchmarks on a machine whose kernel has no netem
// (this one has neither sch_netem nor sch_fq). Unlike a TCP proxy such as
// toxiproxy, which ends each TCP connection on loopback and acknowledges
// at once, it forwards IP packets: the client's and the server's kernels
// talk TCP to each other across the delay, so their own waits (Nagle's
// algorithm, delayed acknowledgements, the three-way handshake) cost what
// they cost on a real network.
//
// scripts/bench-tcpdelay.sh uses it through cmd/omni-tcpdelay: one TUN
// device in the root namespace, one moved into a network namespace, the
// sshd under test behind the second.
package tcpdelay
