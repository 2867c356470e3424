// Package demosvctest builds the demo service for tests in any package. It
// is apart from demosvc so that "testing" never reaches a production
// binary.
package demosvctest
