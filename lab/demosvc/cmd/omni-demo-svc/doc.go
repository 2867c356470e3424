// Command omni-demo-svc is the demo service of package demosvc: a small
// HTTP service for omni's tests and local lab. Run it with -h for its flags.
package main
