package dpop

import "strings"

// urlParts is an http(s) URL reduced to what RFC 9449 §4.3 compares for htu, normalized per
// RFC 3986 §6.2.2 (case of scheme and host, percent-encoding case, unreserved characters
// decoded) and §6.2.3 (default port dropped, empty path is "/"). Dot-segments are not
// removed: clients send the request path they used, and a stricter match only fails closed.
type urlParts struct{ scheme, host, port, path string }

// parseHTU parses an absolute http or https URL, dropping query and fragment. It allocates
// only when a component needs rewriting (upper-case letters, percent escapes).
func parseHTU(raw string) (urlParts, bool) {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c >= 0x7f {
			return urlParts{}, false
		}
	}
	i := strings.Index(raw, "://")
	if i <= 0 {
		return urlParts{}, false
	}
	var u urlParts
	u.scheme = strings.ToLower(raw[:i])
	var defaultPort string
	switch u.scheme {
	case "https":
		defaultPort = "443"
	case "http":
		defaultPort = "80"
	default:
		return urlParts{}, false
	}
	authority, path := raw[i+3:], "/"
	if j := strings.IndexByte(authority, '/'); j >= 0 {
		authority, path = authority[:j], authority[j:]
	}
	if strings.IndexByte(authority, '@') >= 0 { // userinfo has no place in htu
		return urlParts{}, false
	}
	host, port := authority, ""
	if strings.HasPrefix(authority, "[") { // IPv6 literal
		end := strings.IndexByte(authority, ']')
		if end < 0 {
			return urlParts{}, false
		}
		host, port = authority[:end+1], authority[end+1:]
		if port != "" {
			if port[0] != ':' {
				return urlParts{}, false
			}
			port = port[1:]
		}
	} else if k := strings.LastIndexByte(authority, ':'); k >= 0 {
		host, port = authority[:k], authority[k+1:]
	}
	if !validHost(host) {
		return urlParts{}, false
	}
	for j := 0; j < len(port); j++ {
		if port[j] < '0' || port[j] > '9' {
			return urlParts{}, false
		}
	}
	port = strings.TrimLeft(port, "0")
	if port == defaultPort {
		port = ""
	}
	u.host, u.port = strings.ToLower(host), port
	var ok bool
	if u.path, ok = normalizePercent(path); !ok {
		return urlParts{}, false
	}
	return u, true
}

// normalizePercent upper-cases percent escapes and decodes those of unreserved characters
// (RFC 3986 §6.2.2.1, §6.2.2.2). It returns s itself when nothing changes.
func normalizePercent(s string) (string, bool) {
	first := strings.IndexByte(s, '%')
	if first < 0 {
		return s, true
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:first])
	for i := first; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return "", false
		}
		if d := hi<<4 | lo; isUnreserved(d) {
			b.WriteByte(d)
		} else {
			const hexdigits = "0123456789ABCDEF"
			b.WriteByte('%')
			b.WriteByte(hexdigits[hi])
			b.WriteByte(hexdigits[lo])
		}
		i += 2
	}
	return b.String(), true
}

// validHost accepts a bracketed IPv6 literal or a reg-name/IPv4 of URL-safe characters.
func validHost(h string) bool {
	if h == "" {
		return false
	}
	if h[0] == '[' {
		for i := 1; i < len(h)-1; i++ {
			if c := h[i]; c != ':' && c != '.' && !isHex(c) {
				return false
			}
		}
		return len(h) > 2 && h[len(h)-1] == ']'
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; !isUnreserved(c) && !strings.ContainsRune("!$&'()*+,;=%", rune(c)) {
			return false
		}
	}
	return true
}

func isHex(c byte) bool { _, ok := unhex(c); return ok }

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// htuMatches reports whether the proof's htu designates the request URL.
func htuMatches(htu, requestURL string) bool {
	p, ok := parseHTU(htu)
	if !ok {
		return false
	}
	r, ok := parseHTU(requestURL)
	return ok && p == r
}
