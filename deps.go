//go:build tools

package main

import (
	_ "github.com/alecthomas/kingpin/v2"
	_ "github.com/melbahja/goph"
	_ "github.com/olekukonko/tablewriter"
	_ "golang.org/x/crypto/ssh"
	_ "golang.org/x/crypto/ssh/agent"
	_ "golang.org/x/crypto/ssh/knownhosts"
	_ "golang.org/x/sync/errgroup"
	_ "golang.org/x/term"
	_ "gopkg.in/yaml.v3"
)
