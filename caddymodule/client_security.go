package caddymodule

import (
	"reflect"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// securityField returns the parser of the client subdirective name when it names a field of
// store.ClientSecurity: the subdirective is the field's registration metadata name (its JSON
// name), a string field takes one argument and a boolean an optional true|false, like every
// other client flag. Reading the names off the struct keeps the Caddyfile, JSON and
// registration spelling one and the same as fields are added; the rules are spec's.
func securityField(s *store.ClientSecurity, name string) (func(*caddyfile.Dispenser) error, bool) {
	v := reflect.ValueOf(s).Elem()
	for i := 0; i < v.NumField(); i++ {
		tag, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		if tag != name {
			continue
		}
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			return func(d *caddyfile.Dispenser) error {
				arg, err := oneArg(d)
				f.SetString(arg)
				return err
			}, true
		case reflect.Bool:
			return func(d *caddyfile.Dispenser) error {
				on, err := boolArg(d)
				f.SetBool(on)
				return err
			}, true
		}
	}
	return nil, false
}
