package registry

import "fmt"

// EtcdError is an etcd registry that cannot be used when omni opens it:
// no answer, a refused connection, a certificate not trusted, a server
// that is not etcd, authentication required. Like a FileError found at
// open, it comes before any host is touched and is a configuration (or a
// cluster) to fix: exit 2, as the file store's. Errors of an etcd that
// goes away later, during a run, are not EtcdErrors: they fail the step
// that wrote.
type EtcdError struct {
	Endpoints string // as given, comma-separated
	Prefix    string
	Err       error // what is wrong
}

func (e *EtcdError) Error() string {
	return fmt.Sprintf("registry etcd %s (prefix %s) cannot be used: %v", e.Endpoints, e.Prefix, e.Err)
}

func (e *EtcdError) Unwrap() error { return e.Err }
