package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/omni-fleet/omni/inventory"
)

// StatusReport is what `omni lab status` reports. With the global
// `--output json` it is printed as this JSON document (so is the lab that
// `omni lab up --output json` brought up). The document is stable: fields
// may be added, none is renamed, removed or changes meaning. As in omni's
// other documents, times are RFC 3339 in UTC and absent values are omitted.
//
//	{
//	  "dir": "/home/me/.local/state/omni/lab",   // the lab directory, absolute
//	  "state": "running",      // "running": serve is up; "stale": lab files but
//	                           // no serve (run `omni lab down`); "absent": no lab
//	  "serve_pid": 4242,       // the `omni lab serve` process; only when running
//	  "from": "/src/omni/examples/inventory.yaml",   // the source inventory, when known
//	  "inventory": "/home/me/.local/state/omni/lab/inventory.yaml",  // once written
//	  "created": "2025-01-02T03:04:05Z",           // when `lab up` began, when known
//	  "services_running": 17,  // over every host
//	  "services_total": 17,    // enabled services of every host
//	  "hosts": [               // in inventory order; [] when absent
//	    {
//	      "name": "worker1",
//	      "address": "127.77.0.3",     // its SSH endpoint, and where its services listen
//	      "port": 2222,                // its SSH port
//	      "via": "primary-bastion",    // the bastion it is reached through, if any
//	      "services": [                // the enabled services it runs, in start order
//	        {"name": "container-runtime", "port": 7450, "running": true, "pid": 5151}
//	      ]       // running: a live `omni lab service` holds its pidfile; pid only then
//	    }
//	  ]
//	}
type StatusReport struct {
	Dir             string       `json:"dir"`
	State           string       `json:"state"`
	ServePID        int          `json:"serve_pid,omitempty"`
	From            string       `json:"from,omitempty"`
	Inventory       string       `json:"inventory,omitempty"`
	Created         time.Time    `json:"created,omitzero"`
	ServicesRunning int          `json:"services_running"`
	ServicesTotal   int          `json:"services_total"`
	Hosts           []HostStatus `json:"hosts"`
}

// HostStatus is one host of a StatusReport.
type HostStatus struct {
	Name     string          `json:"name"`
	Address  string          `json:"address"`
	Port     int             `json:"port"`
	Via      string          `json:"via,omitempty"`
	Services []ServiceStatus `json:"services"`
}

// ServiceStatus is one service of a host of a StatusReport.
type ServiceStatus struct {
	Name    string `json:"name"`
	Port    int    `json:"port"`
	Running bool   `json:"running"`
	PID     int    `json:"pid,omitempty"`
}

// States of a lab.
const (
	StateRunning = "running"
	StateStale   = "stale"
	StateAbsent  = "absent"
)

// Status reports on the lab in dir. It opens no connection: it reads the
// lab's files and /proc.
func Status(dir string) (*StatusReport, error) {
	dir, err := absDir(dir)
	if err != nil {
		return nil, err
	}
	rep := &StatusReport{Dir: dir, State: StateAbsent, Hosts: []HostStatus{}}
	st, err := readState(dir)
	if errors.Is(err, os.ErrNotExist) {
		if len(labProcesses(dir)) > 0 {
			rep.State = StateStale
		}
		return rep, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lab in %s: %w", dir, err)
	}
	rep.State = StateStale
	rep.From, rep.Inventory, rep.Created = st.From, st.Inventory, st.Created
	if isServe(st.ServePID, dir) {
		rep.State, rep.ServePID = StateRunning, st.ServePID
	}
	var inv *inventory.Inventory
	if st.Inventory != "" {
		inv, _ = inventory.Load(st.Inventory) // written by lab up; without it, hosts only
	}
	for _, ep := range st.Hosts {
		hs := HostStatus{Name: ep.Name, Address: ep.Address, Port: ep.Port, Via: ep.Via, Services: []ServiceStatus{}}
		if inv != nil {
			if h, err := inv.Host(ep.Name); err == nil {
				for _, name := range inv.HostServices(h) {
					ss := ServiceStatus{Name: name, Port: st.ServicePorts[name]}
					pidfile := filepath.Join(dir, runDir, h.Name+"."+name+".pid")
					if pid := readPID(pidfile); pid > 0 && isLabService(pid, pidfile) {
						ss.Running, ss.PID = true, pid
						rep.ServicesRunning++
					}
					rep.ServicesTotal++
					hs.Services = append(hs.Services, ss)
				}
			}
		}
		rep.Hosts = append(rep.Hosts, hs)
	}
	return rep, nil
}
