package rsvalidate

import (
	"encoding/base64"
	"net/http"
	"strings"
)

// SubprotocolTokenPrefix marks the WebSocket subprotocol that carries an access token
// (Config.AllowSubprotocolToken): browsers cannot set Authorization on a WebSocket handshake,
// only the subprotocols it offers. The entry is this prefix and the token in unpadded
// base64url (a token may hold characters a subprotocol may not: "/", "="); the Kubernetes API
// server's convention, under a name that is not its own.
const SubprotocolTokenPrefix = "base64url.bearer.authorization."

const headerWSProtocol = "Sec-Websocket-Protocol"

// IsWebSocket reports whether r opens a WebSocket: an HTTP/1.1 Upgrade (RFC 6455) or an
// extended CONNECT for the websocket protocol (RFC 8441, RFC 9220).
func IsWebSocket(r *http.Request) bool {
	if r.Method == http.MethodConnect {
		return strings.EqualFold(r.Header.Get(":protocol"), "websocket")
	}
	for _, v := range r.Header.Values("Upgrade") {
		for p := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(p), "websocket") {
				return true
			}
		}
	}
	return false
}

// subprotocolTokens returns the access tokens of r's token subprotocol entries, decoded; an
// entry that does not decode is an invalid_request.
func subprotocolTokens(r *http.Request) ([]string, *Error) {
	var tokens []string
	for _, v := range r.Header.Values(headerWSProtocol) {
		for p := range strings.SplitSeq(v, ",") {
			enc, ok := strings.CutPrefix(strings.TrimSpace(p), SubprotocolTokenPrefix)
			if !ok {
				continue
			}
			if len(enc) > maxTokenLen*4/3+4 {
				return nil, invalidToken("invalid access token", nil)
			}
			tok, err := base64.RawURLEncoding.DecodeString(enc)
			if err != nil {
				return nil, invalidRequest("access token subprotocol is not unpadded base64url")
			}
			tokens = append(tokens, string(tok))
		}
	}
	return tokens, nil
}

// StripSubprotocolToken removes the token entries from r's Sec-WebSocket-Protocol, keeping
// the subprotocols the upstream chooses among; the header goes when none is left. The
// upstream then never sees the token, and never echoes it as the chosen subprotocol.
func StripSubprotocolToken(r *http.Request) {
	values := r.Header.Values(headerWSProtocol)
	if len(values) == 0 {
		return
	}
	var keep []string
	found := false
	for _, v := range values {
		for p := range strings.SplitSeq(v, ",") {
			p = strings.TrimSpace(p)
			switch {
			case strings.HasPrefix(p, SubprotocolTokenPrefix):
				found = true
			case p != "":
				keep = append(keep, p)
			}
		}
	}
	if !found {
		return
	}
	if len(keep) == 0 {
		r.Header.Del(headerWSProtocol)
		return
	}
	r.Header.Set(headerWSProtocol, strings.Join(keep, ", "))
}
