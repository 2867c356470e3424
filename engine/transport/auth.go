package transport

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// credentials are what one handshake offers, and how they were gathered,
// for the AuthError if the server refuses them all.
type credentials struct {
	signers  []ssh.Signer
	identity ssh.Signer // the first identity file's key
	tried    []string
	skipped  []string
}

// optimistic is the key to sign with at once, before the server has said
// it takes keys or which (ssh.ClientConfig.OptimisticSigner, in omni's
// copy of x/crypto: third_party/README.md): the first identity file's
// key, the one the inventory or ssh_config names for the host; with no
// identity file, the agent's key when it holds just one. Else nil, and
// the keys are offered one by one, each asked about before it signs, so
// that an agent with many keys signs only with the one the server takes
// (an agent may ask its user to confirm each signature).
func (c *credentials) optimistic() ssh.Signer {
	if c.identity != nil {
		return c.identity
	}
	if len(c.signers) == 1 { // without an identity file, the agent's
		return c.signers[0]
	}
	return nil
}

func (c *credentials) methods() []ssh.AuthMethod {
	if len(c.signers) == 0 {
		return nil
	}
	// One method with every key: x/crypto tries each auth method name only
	// once, so a second PublicKeys method would never be attempted.
	return []ssh.AuthMethod{ssh.PublicKeys(c.signers...)}
}

func (c *credentials) add(signers ...ssh.Signer) {
	for _, s := range signers {
		blob := s.PublicKey().Marshal()
		duplicate := false
		for _, have := range c.signers {
			if bytes.Equal(have.PublicKey().Marshal(), blob) {
				duplicate = true
				break
			}
		}
		if !duplicate {
			c.signers = append(c.signers, s)
		}
	}
}

// credentials gathers the agent's keys and ep's identity files. It never
// prompts: a passphrase-protected file is skipped, with a note.
func (p *Pool) credentials(ep Endpoint) *credentials {
	creds := &credentials{}
	if p.opts.UseAgent {
		if signers, note := p.agentSigners(); note != "" {
			creds.skipped = append(creds.skipped, "ssh-agent ("+note+")")
		} else if len(signers) > 0 {
			creds.add(signers...)
			creds.tried = append(creds.tried, "ssh-agent")
		}
	}
	for _, path := range ep.IdentityFiles {
		signer, note := p.identity(path)
		if note != "" {
			creds.skipped = append(creds.skipped, path+" ("+note+")")
			continue
		}
		creds.add(signer)
		if creds.identity == nil {
			creds.identity = signer
		}
		creds.tried = append(creds.tried, path)
	}
	return creds
}

// agentTimeout bounds the ssh-agent's connection and its list of keys.
const agentTimeout = 2 * time.Second

// agentSigners returns the agent's keys, connecting to it on first use. The
// note says why there are none to offer, when that is worth saying.
func (p *Pool) agentSigners() ([]ssh.Signer, string) {
	p.authMu.Lock()
	defer p.authMu.Unlock()
	if p.agent == nil && p.agentErr == nil {
		sock := os.Getenv("SSH_AUTH_SOCK")
		if sock == "" {
			return nil, "" // no agent running: nothing worth a note
		}
		conn, err := net.DialTimeout("unix", sock, agentTimeout)
		if err != nil {
			p.agentErr = err
		} else {
			p.agentConn = conn
			p.agent = agent.NewClient(conn)
		}
	}
	if p.agentErr != nil {
		return nil, "unavailable: " + p.agentErr.Error()
	}
	// An agent that does not answer (wedged, or a forwarded socket whose
	// other end is gone) must not hold the run: it is given up on, for
	// this run, after agentTimeout.
	_ = p.agentConn.SetDeadline(time.Now().Add(agentTimeout))
	signers, err := p.agent.Signers()
	_ = p.agentConn.SetDeadline(time.Time{})
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			p.agentErr = fmt.Errorf("no answer within %s", agentTimeout)
			p.agentConn.Close()
		}
		return nil, "listing keys: " + err.Error()
	}
	if len(signers) == 0 {
		return nil, "no keys loaded"
	}
	return signers, ""
}

// identity parses a private key file once per pool.
func (p *Pool) identity(path string) (ssh.Signer, string) {
	p.authMu.Lock()
	defer p.authMu.Unlock()
	if key, ok := p.identities[path]; ok {
		return key.signer, key.note
	}
	signer, note := parseIdentity(path)
	p.identities[path] = identityFile{signer, note}
	return signer, note
}

type identityFile struct {
	signer ssh.Signer
	note   string // why signer is nil
}

func parseIdentity(path string) (ssh.Signer, string) {
	if info, err := os.Stat(path); err == nil && !info.Mode().IsRegular() {
		// A FIFO would block the read past every timeout.
		return nil, "not a regular file (" + fileKind(info.Mode()) + ")"
	}
	pem, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "does not exist"
	}
	if err != nil {
		return nil, "unreadable: " + err.Error()
	}
	signer, err := ssh.ParsePrivateKey(pem)
	var passphraseMissing *ssh.PassphraseMissingError
	if errors.As(err, &passphraseMissing) {
		return nil, "passphrase-protected; load it into ssh-agent"
	}
	if err != nil {
		return nil, fmt.Sprintf("not a usable private key: %v", err)
	}
	return signer, ""
}
