package transport

import (
	"fmt"
	"time"
)

// keepaliveRequest is the global request OpenSSH's client sends for
// ServerAliveInterval. Servers answer it, with a failure when they do not
// know it, and any answer proves the link alive.
const keepaliveRequest = "keepalive@openssh.com"

// keepAlive notices a dead link as OpenSSH's client does: a keepalive
// every interval, and once countMax of them in a row have gone unanswered
// (interval × countMax after the first of them), the connection is
// declared lost and closed. Without it, a host whose packets are dropped
// (a black hole, not a reset) keeps a connection open until the kernel
// gives up retransmitting, some 15 minutes later, and every command on it
// waits that long. It returns when the connection ends.
//
// One keepalive is in flight at a time: while it is unanswered, each tick
// counts one more miss instead of sending another.
func (c *Client) keepAlive(interval time.Duration, countMax int) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	answered := make(chan struct{}, 1)
	inFlight, missed := false, 0
	for {
		select {
		case <-c.lost:
			return
		case <-answered:
			inFlight, missed = false, 0
		case <-ticker.C:
			if !inFlight {
				inFlight = true
				go func() {
					// An error means the connection is closing: c.lost
					// ends the loop. A refusal is an answer too.
					if _, _, err := c.ssh.SendRequest(keepaliveRequest, true, nil); err == nil {
						answered <- struct{}{}
					}
				}()
				continue
			}
			if missed++; missed >= countMax {
				c.declareLost(fmt.Sprintf("no answer to %d keepalives in %s (server_alive_interval %s × server_alive_count_max %d)",
					countMax, interval*time.Duration(countMax), interval, countMax))
				return
			}
		}
	}
}

// watchBastion declares c lost when the bastion it is reached through is:
// every host behind a dead link goes with it, at once.
func (c *Client) watchBastion(bastion *Client) {
	select {
	case <-bastion.lost:
		c.declareLost(viaReason(bastion))
	case <-c.lost:
	}
}

// viaReason is why a connection through bastion was lost when the bastion
// was: "via NAME: its reason"; "" when bastion is nil or not lost.
func viaReason(bastion *Client) string {
	if bastion == nil || !bastion.isLost() {
		return ""
	}
	why := "connection lost"
	if bastion.lostReason != "" {
		why = bastion.lostReason
	}
	return "via " + bastion.name + ": " + why
}

// declareLost marks the connection lost, for the reason given, and closes
// it. Waits on the connection see c.lost at once; the close itself goes
// on in the background, since over a dead bastion even sending the
// channel's close may wait.
func (c *Client) declareLost(reason string) {
	c.markLost(reason)
	go c.ssh.Close()
}

// markLost closes c.lost, once; reason says why, for errors ("" when the
// connection just ended).
func (c *Client) markLost(reason string) {
	c.lostOnce.Do(func() {
		c.lostReason = reason
		close(c.lost)
	})
}
