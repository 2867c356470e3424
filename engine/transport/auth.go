package transport

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"slices"
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

// credentials gathers ep's identity files and the agent's keys, in
// OpenSSH's order: each identity file's key first (the agent's signer for
// it when the file is passphrase-protected and the agent holds its key:
// the file's public key, or FILE.pub, tells which), then the agent's other
// keys, unless ep.IdentitiesOnly. It never prompts: a passphrase-protected
// file whose key the agent does not hold is skipped, with a note.
func (p *Pool) credentials(ep Endpoint) *credentials {
	creds := &credentials{}
	var agentKeys []ssh.Signer
	if p.opts.UseAgent {
		if signers, note := p.agentSigners(); note != "" {
			creds.skipped = append(creds.skipped, "ssh-agent ("+note+")")
		} else {
			agentKeys = signers
		}
	}
	for _, path := range ep.IdentityFiles {
		signer, pub, note := p.identity(path)
		// label names the key in messages; path stays the file's own, for
		// its certificate beside it.
		label := path
		if signer == nil && pub != nil {
			if i := slices.IndexFunc(agentKeys, func(s ssh.Signer) bool {
				return bytes.Equal(s.PublicKey().Marshal(), pub.Marshal())
			}); i >= 0 {
				signer, note = agentKeys[i], ""
				label += " (its key, from ssh-agent)"
			}
		}
		if signer == nil {
			creds.skipped = append(creds.skipped, label+" ("+note+")")
			continue
		}
		if cert := p.certificate(path, signer); cert != nil {
			// Its certificate (KEY-cert.pub, as ssh offers it) first,
			// then the plain key; the agent signs for a passphrase-
			// protected key.
			creds.add(cert)
			if creds.identity == nil {
				creds.identity = cert
			}
			creds.tried = append(creds.tried, path+"-cert.pub")
		}
		creds.add(signer)
		if creds.identity == nil {
			creds.identity = signer
		}
		creds.tried = append(creds.tried, label)
	}
	if len(agentKeys) > 0 && !ep.IdentitiesOnly {
		creds.add(agentKeys...)
		creds.tried = append(creds.tried, "ssh-agent")
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

// identity parses a private key file once per pool: its signer, or its
// public key when it is passphrase-protected (nil when not known either).
func (p *Pool) identity(path string) (ssh.Signer, ssh.PublicKey, string) {
	p.authMu.Lock()
	defer p.authMu.Unlock()
	if key, ok := p.identities[path]; ok {
		return key.signer, key.pub, key.note
	}
	signer, pub, note := parseIdentity(path)
	p.identities[path] = identityFile{signer, pub, note}
	return signer, pub, note
}

type identityFile struct {
	signer ssh.Signer
	pub    ssh.PublicKey // of a passphrase-protected file, when known
	note   string        // why signer is nil
}

func parseIdentity(path string) (ssh.Signer, ssh.PublicKey, string) {
	if info, err := os.Stat(path); err == nil && !info.Mode().IsRegular() {
		// A FIFO would block the read past every timeout.
		return nil, nil, "not a regular file (" + fileKind(info.Mode()) + ")"
	}
	pem, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, "does not exist"
	}
	if err != nil {
		return nil, nil, "unreadable: " + err.Error()
	}
	signer, err := ssh.ParsePrivateKey(pem)
	var passphraseMissing *ssh.PassphraseMissingError
	if errors.As(err, &passphraseMissing) {
		pub := passphraseMissing.PublicKey
		if pub == nil {
			pub = publicKeyBeside(path)
		}
		return nil, pub, "passphrase-protected; load it into ssh-agent"
	}
	if err != nil {
		return nil, nil, fmt.Sprintf("not a usable private key: %v", err)
	}
	return signer, nil, ""
}

// certificate is the signer of the user certificate ssh-keygen -s wrote
// beside the identity file at path (PATH-cert.pub) for signer's key, nil
// when there is none. Read once per pool.
func (p *Pool) certificate(path string, signer ssh.Signer) ssh.Signer {
	p.authMu.Lock()
	defer p.authMu.Unlock()
	if c, ok := p.certs[path]; ok {
		return c
	}
	var cs ssh.Signer
	if pub := publicKeyBeside(path + "-cert"); pub != nil {
		if cert, ok := pub.(*ssh.Certificate); ok && cert.CertType == ssh.UserCert &&
			bytes.Equal(cert.Key.Marshal(), signer.PublicKey().Marshal()) {
			if s, err := ssh.NewCertSigner(cert, signer); err == nil {
				cs = s
			}
		}
	}
	p.certs[path] = cs
	return cs
}

// publicKeyBeside reads PATH.pub, the public key ssh-keygen writes next
// to a private key; nil when there is none (or it is not a regular file).
func publicKeyBeside(path string) ssh.PublicKey {
	info, err := os.Stat(path + ".pub")
	if err != nil || !info.Mode().IsRegular() || info.Size() > 64<<10 {
		return nil
	}
	b, err := os.ReadFile(path + ".pub")
	if err != nil {
		return nil
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		return nil
	}
	return pub
}
