// Package config is a service's declared configuration as the files it
// becomes on a host: the environment file written from the inventory's
// env: keys, the systemd drop-in written from dropin: (and wiring the
// environment file in), and the files of files:. Render turns an
// inventory's declarations into a Set; the remote side reads what a host
// has (Live) and writes a Set atomically. Secret content is never printed
// or stored: only its hash leaves this package.
package config
