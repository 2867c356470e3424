package inventory

// Explicit says which connection settings of a host the inventory states
// itself, on the host or in its defaults section, as opposed to values
// omni filled in from its built-in defaults (port 22, the current user, no
// identity file, ~/.ssh/known_hosts). Settings stated explicitly win over
// the OpenSSH client configuration (~/.ssh/config); the others lose to it.
type Explicit struct {
	Port         bool // port, on the host or in defaults
	User         bool // user, on the host or in defaults
	IdentityFile bool // identity_file, on the host or in defaults
	KnownHosts   bool // defaults.known_hosts
	// server_alive_interval and server_alive_count_max, on the host or in
	// defaults
	ServerAliveInterval bool
	ServerAliveCountMax bool
}

// Explicit reports which connection settings of h the inventory states.
// The host's fields (Port, User, IdentityFile) hold the effective values
// either way. For an Inventory built by hand rather than by Load or Parse,
// a setting counts as explicit when it is not the zero value.
func (inv *Inventory) Explicit(h *Host) Explicit {
	if e, ok := inv.explicit[h.Name]; ok {
		return e
	}
	return Explicit{
		Port:         h.Port != 0,
		User:         h.User != "",
		IdentityFile: h.IdentityFile != "",
		KnownHosts:   inv.Defaults.KnownHosts != "",
		// A hand-built host's zero interval is "not stated", not "off".
		ServerAliveInterval: h.ServerAliveInterval != 0,
		ServerAliveCountMax: h.ServerAliveCountMax != 0,
	}
}

// ExplicitDefaults reports which connection settings the inventory's
// defaults section states, for hosts that are not in the inventory (a
// ProxyJump hop known only to ssh_config). For an Inventory built by hand,
// a setting counts as explicit when it is not the zero value.
func (inv *Inventory) ExplicitDefaults() Explicit {
	if inv.explicitDefaults != nil {
		return *inv.explicitDefaults
	}
	d := inv.Defaults
	return Explicit{
		Port:                d.Port != 0,
		User:                d.User != "",
		IdentityFile:        d.IdentityFile != "",
		KnownHosts:          d.KnownHosts != "",
		ServerAliveInterval: d.ServerAliveInterval != 0,
		ServerAliveCountMax: d.ServerAliveCountMax != 0,
	}
}
