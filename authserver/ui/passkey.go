package ui

import (
	_ "embed"
	"net/http"
)

// passkeyScript is the pages' only script of their own: on a form marked data-passkey it
// calls navigator.credentials.create or .get with the form's options and posts the answer.
//
//go:embed assets/passkey.js
var passkeyScript []byte

// ServePasskeyScript serves passkey.js. Pages load it with their CSP nonce; it is static, so
// browsers may cache it for an hour.
func ServePasskeyScript(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(passkeyScript)
	}
}
