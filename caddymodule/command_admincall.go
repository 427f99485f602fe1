package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// This file is what `caddy oauth-client`, `caddy oauth-resource` and
// `caddy oauth-registration-token` share: the flags that find the admin endpoint, one admin
// API call, the API's error message, and JSON output.

// maxAdminResponse bounds what the CLI reads from the admin API.
const maxAdminResponse = 16 << 20

// adminSender performs one admin API request; caddycmd.AdminAPIRequest in the commands,
// a recorder in tests. Like it, it returns an error for statuses ≥ 400.
type adminSender func(addr, method, uri string, header http.Header, body io.Reader) (*http.Response, error)

// adminCall is one admin API request, built from the command line before anything is sent.
type adminCall struct {
	method string
	path   string     // without the query
	query  url.Values // ?issuer= is added by the sender
	body   any        // marshalled as JSON; nil: no body
	// contentType overrides application/json (PATCH sends a JSON merge patch).
	contentType string
}

func (c adminCall) uri(issuer string) string {
	q := url.Values{}
	for k, v := range c.query {
		q[k] = v
	}
	if issuer != "" {
		q.Set("issuer", issuer)
	}
	if len(q) == 0 {
		return c.path
	}
	return c.path + "?" + q.Encode()
}

// adminFlags adds the flags every management command takes to cmd (persistent, so its
// subcommands inherit them).
func adminFlags(cmd *cobra.Command) {
	fs := cmd.PersistentFlags()
	fs.StringP("issuer", "i", "", "The issuer to manage, if several are configured")
	fs.Bool("json", false, "Print the admin API's JSON instead of a table")
	fs.String("address", "", "The address of the admin API, if not the default")
	fs.StringP("config", "c", "", "Configuration file to read the admin address from, if --address is not used")
	fs.StringP("adapter", "a", "", "Name of the config adapter (with --config)")
}

// adminSession is one command's connection to the admin API: where it is, which issuer,
// and where output goes.
type adminSession struct {
	send   adminSender
	addr   string
	issuer string
	json   bool
	out    io.Writer
}

// newAdminSession reads the shared flags. A nil send means the real admin endpoint, whose
// address comes from --address, --config or Caddy's default.
func newAdminSession(cmd *cobra.Command, send adminSender) (*adminSession, error) {
	fl := caddycmd.Flags{FlagSet: cmd.Flags()}
	s := &adminSession{send: send, issuer: fl.String("issuer"), json: fl.Bool("json"), out: cmd.OutOrStdout()}
	if s.send == nil {
		s.send = caddycmd.AdminAPIRequest
	}
	addr, err := caddycmd.DetermineAdminAPIAddress(fl.String("address"), nil, fl.String("config"), fl.String("adapter"))
	if err != nil {
		return nil, fmt.Errorf("couldn't determine admin API address: %v", err)
	}
	s.addr = addr
	return s, nil
}

// do sends call and returns the response body (nil for 204). An error status becomes an
// *adminError carrying the API's own message.
func (s *adminSession) do(call adminCall) ([]byte, error) {
	var (
		body   io.Reader
		header http.Header
	)
	if call.body != nil {
		b, err := json.Marshal(call.body)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
		if call.contentType != "" {
			header = http.Header{"Content-Type": {call.contentType}}
		}
	}
	resp, err := s.send(s.addr, call.method, call.uri(s.issuer), header, body)
	if err != nil {
		return nil, asAdminError(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAdminResponse))
	if err != nil {
		return nil, fmt.Errorf("reading the admin API's answer: %v", err)
	}
	return b, nil
}

// doJSON is do, decoding the answer into v.
func (s *adminSession) doJSON(call adminCall, v any) ([]byte, error) {
	b, err := s.do(call)
	if err != nil {
		return nil, err
	}
	if err := decodeJSON(b, v); err != nil {
		return nil, fmt.Errorf("reading the admin API's answer: %v", err)
	}
	return b, nil
}

// decodeJSON decodes keeping numbers as written (no float rounding of large integers).
func decodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

// printJSON writes an admin API answer indented, as it came.
func (s *adminSession) printJSON(b []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(b), "", "  "); err != nil {
		return fmt.Errorf("the admin API answered with invalid JSON: %v", err)
	}
	buf.WriteByte('\n')
	_, err := s.out.Write(buf.Bytes())
	return err
}

// adminError is an admin API error answer: the message is the API's own.
type adminError struct {
	Status  int
	Message string
}

func (e *adminError) Error() string { return e.Message }

// asAdminError turns caddycmd.AdminAPIRequest's error for a status ≥ 400 ("caddy responded
// with error: HTTP 409: {"error":"…"}") into the API's message; other errors (connection
// refused, …) pass unchanged.
func asAdminError(err error) error {
	const prefix = "caddy responded with error: HTTP "
	rest, ok := strings.CutPrefix(err.Error(), prefix)
	if !ok {
		return err
	}
	code, body, _ := strings.Cut(rest, ": ")
	status, convErr := strconv.Atoi(code)
	if convErr != nil {
		return err
	}
	var answer struct {
		Error string `json:"error"`
	}
	if json.Unmarshal([]byte(body), &answer) != nil || answer.Error == "" {
		return &adminError{Status: status, Message: fmt.Sprintf("HTTP %d: %s", status, strings.TrimSpace(body))}
	}
	return &adminError{Status: status, Message: answer.Error}
}

// adminAction is one subcommand: it reads its flags and arguments, calls the admin API
// through s and prints the result.
type adminAction func(s *adminSession, fs *pflag.FlagSet, args []string) error

// runAdmin adapts a management action to cobra: the session from the shared flags, and
// exit status 1 with the error (logged by Caddy's wrapper) when it fails.
func runAdmin(send adminSender, action adminAction) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		f := caddycmd.WrapCommandFuncForCobra(func(caddycmd.Flags) (int, error) {
			s, err := newAdminSession(cmd, send)
			if err != nil {
				return caddy.ExitCodeFailedStartup, err
			}
			if err := action(s, cmd.Flags(), args); err != nil {
				return 1, err
			}
			return 0, nil
		})
		return f(cmd, args)
	}
}

// readLimited reads r whole, failing past limit bytes.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("larger than %d bytes", limit)
	}
	return b, err
}

// printValue writes v as indented JSON.
func (s *adminSession) printValue(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = s.out.Write(append(b, '\n'))
	return err
}

// printAnswer prints an admin API answer: as it came with --json, else through table.
func (s *adminSession) printAnswer(raw []byte, table func() error) error {
	if s.json {
		return s.printJSON(raw)
	}
	return table()
}
