package registry

import "context"

// Open opens the Store omni uses: the etcd cluster of etcd when it is not
// nil, else the bbolt file at path (DefaultPath when path is empty). The
// end of ctx (Ctrl-C) ends a wait for a bbolt file that another process
// holds (OpenBoltContext).
func Open(ctx context.Context, path string, etcd *EtcdConfig) (Store, error) {
	if etcd != nil {
		s, err := OpenEtcd(ctx, *etcd)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	if path == "" {
		var err error
		if path, err = DefaultPath(); err != nil {
			// No $HOME (cron's env -i): a configuration to fix, before
			// any host is touched.
			return nil, &FileError{Path: "$XDG_STATE_HOME/omni/registry.db (or ~/.local/state/omni/registry.db)", Problem: FileUnusable, Err: err}
		}
	}
	s, err := OpenBoltContext(ctx, path)
	if err != nil {
		return nil, err
	}
	return s, nil
}

var (
	_ Store = (*Bolt)(nil)
	_ Store = (*Etcd)(nil)
)
