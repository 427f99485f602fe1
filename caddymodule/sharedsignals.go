package caddymodule

import (
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-oauth/caddy-oauth/backchannel/ssf"
)

// SharedSignals is the issuer's Shared Signals transmitter, which streams revocations to
// remote gateways (see package backchannel/ssf); on when absent.
type SharedSignals struct {
	// Enabled turns the transmitter off when false (`shared_signals off`).
	Enabled *bool `json:"enabled,omitempty"`
	// LongPoll is how long a poll waits for an event before answering empty (default 20s).
	LongPoll caddy.Duration `json:"long_poll,omitempty"`
	// StreamInactivity deletes streams not polled for this long (default 168h).
	StreamInactivity caddy.Duration `json:"stream_inactivity,omitempty"`
}

// options translates s into the transmitter's plain-Go options.
func (s *SharedSignals) options() ssf.Options {
	if s == nil {
		return ssf.Options{}
	}
	return ssf.Options{
		Enabled:          s.Enabled,
		LongPollWait:     time.Duration(s.LongPoll),
		StreamInactivity: time.Duration(s.StreamInactivity),
	}
}

// parseSharedSignals reads
//
//	shared_signals off
//	shared_signals {
//	    long_poll <duration>
//	    stream_inactivity <duration>
//	}
func parseSharedSignals(d *caddyfile.Dispenser) (*SharedSignals, error) {
	s := &SharedSignals{}
	switch args := d.RemainingArgs(); {
	case len(args) == 1 && args[0] == "off":
		off := false
		s.Enabled = &off
		if d.NextBlock(d.Nesting()) {
			return nil, d.Err("shared_signals off: takes no block")
		}
		return s, nil
	case len(args) > 0:
		return nil, d.Errf("shared_signals: want `off` or a block, got %q", args[0])
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "long_poll":
			s.LongPoll, err = durationArg(d)
		case "stream_inactivity":
			s.StreamInactivity, err = durationArg(d)
		default:
			return nil, d.Errf("shared_signals: unknown subdirective %q", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}
