package ui

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"golang.org/x/text/language"
)

// The message catalogs: one flat JSON object per language, key → message, under locales/.
// A message may hold named placeholders, {name}, filled by the arguments of T.
//
//go:embed locales/*.json
var localeFiles embed.FS

// DefaultLanguage is the language of the catalog every other one must match key for key, and
// the one used when nothing the user asks for is supported.
const DefaultLanguage = "en"

type catalog struct {
	// tags are the supported languages, DefaultLanguage first, then by tag.
	tags     []language.Tag
	names    []string
	messages map[string]map[string]string // language → key → message
	matcher  language.Matcher
}

var catalogs = mustLoadCatalogs(localeFiles)

func mustLoadCatalogs(fsys fs.FS) *catalog {
	c, err := loadCatalogs(fsys)
	if err != nil {
		panic(err)
	}
	return c
}

func loadCatalogs(fsys fs.FS) (*catalog, error) {
	files, err := fs.Glob(fsys, "locales/*.json")
	if err != nil {
		return nil, err
	}
	c := &catalog{messages: map[string]map[string]string{}}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".json")
		tag, err := language.Parse(name)
		if err != nil || tag.String() != name {
			return nil, fmt.Errorf("ui: catalog %s: not a canonical BCP 47 tag", f)
		}
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("ui: catalog %s: %w", f, err)
		}
		c.messages[name] = m
		c.names = append(c.names, name)
	}
	if c.messages[DefaultLanguage] == nil {
		return nil, fmt.Errorf("ui: no %s catalog", DefaultLanguage)
	}
	slices.SortFunc(c.names, func(a, b string) int {
		switch {
		case a == DefaultLanguage:
			return -1
		case b == DefaultLanguage:
			return 1
		}
		return strings.Compare(a, b)
	})
	for _, n := range c.names {
		c.tags = append(c.tags, language.MustParse(n))
	}
	c.matcher = language.NewMatcher(c.tags)
	return c, nil
}

// Languages lists the languages the pages are translated to (BCP 47 tags), DefaultLanguage
// first: what discovery's ui_locales_supported publishes.
func Languages() []string { return slices.Clone(catalogs.names) }

// ChooseLanguage picks the page language: the first supported language of uiLocales (OpenID
// Connect's ui_locales, space-separated BCP 47 tags in order of preference) when it has one,
// else the best match for an Accept-Language header, else DefaultLanguage. Unknown or malformed
// tags are skipped.
func ChooseLanguage(uiLocales, acceptLanguage string) string {
	for _, field := range strings.Fields(uiLocales) {
		tag, err := language.Parse(field)
		if err != nil {
			continue
		}
		if lang, ok := catalogs.match(tag); ok {
			return lang
		}
	}
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err == nil {
		for _, tag := range tags {
			if lang, ok := catalogs.match(tag); ok {
				return lang
			}
		}
	}
	return DefaultLanguage
}

// match finds the supported language tag stands for, when the matcher is confident enough
// that a speaker of tag reads it (e.g. de-CH → de, but not ja → en).
func (c *catalog) match(tag language.Tag) (string, bool) {
	_, i, conf := c.matcher.Match(tag)
	if conf < language.High {
		return "", false
	}
	return c.names[i], true
}

// Localizer translates the messages of one language. The zero value speaks DefaultLanguage.
// Every page template reaches the page's Localizer as $.T, $.Text and $.Lang (see the
// package documentation); handlers get one from Lang for the messages they pass to a page.
type Localizer struct {
	lang string
}

// Lang returns the Localizer of lang, a tag ChooseLanguage returned; any other tag gets the
// best supported match or DefaultLanguage.
func Lang(lang string) Localizer {
	if _, ok := catalogs.messages[lang]; ok {
		return Localizer{lang: lang}
	}
	return Localizer{lang: ChooseLanguage(lang, "")}
}

// Tag is the BCP 47 tag of the language (for <html lang>).
func (l Localizer) Tag() string {
	if l.lang == "" {
		return DefaultLanguage
	}
	return l.lang
}

// Has reports whether the catalog has a message for key.
func (l Localizer) Has(key string) bool {
	_, ok := catalogs.messages[l.Tag()][key]
	return ok
}

// Text returns the message key with its placeholders filled from args, pairs of name and
// value: Text("login.to_continue", "client", "Example"). A key missing from the language
// falls back to DefaultLanguage, and a key missing there is returned as is, so a mistake
// shows instead of failing the page.
func (l Localizer) Text(key string, args ...any) string {
	msg := l.message(key)
	if len(args) == 0 {
		return msg
	}
	return fill(msg, args, func(v any) string { return fmt.Sprint(v) }, func(s string) string { return s })
}

// T is Text as HTML: the message is escaped, string arguments are escaped, and template.HTML
// arguments (such as what the strong template function returns) are kept as they are.
func (l Localizer) T(key string, args ...any) template.HTML {
	return template.HTML(fill(l.message(key), args, func(v any) string {
		if h, ok := v.(template.HTML); ok {
			return string(h)
		}
		return template.HTMLEscapeString(fmt.Sprint(v))
	}, template.HTMLEscapeString))
}

// Wait words a retry delay: whole minutes, or seconds under one.
func (l Localizer) Wait(d time.Duration) string {
	if d < time.Minute {
		return l.Text("wait.seconds", "n", max(1, int(d.Round(time.Second)/time.Second)))
	}
	m := int((d + time.Minute - 1) / time.Minute)
	if m == 1 {
		return l.Text("wait.minute")
	}
	return l.Text("wait.minutes", "n", m)
}

// Message is msg in this language when msg is a catalog key, else msg as it is: handlers
// pass a page's notices and errors as keys (or as text already worded). args fill the
// placeholders of a key, as for Text.
func (l Localizer) Message(msg string, args ...any) string {
	if msg != "" && (l.Has(msg) || catalogs.messages[DefaultLanguage][msg] != "") {
		return l.Text(msg, args...)
	}
	return msg
}

// Date words an instant for people in this language (catalog key "format.datetime", a Go
// time layout), in UTC.
func (l Localizer) Date(t time.Time) string {
	return t.UTC().Format(l.message("format.datetime"))
}

// Time is Date as a <time> element carrying the machine-readable instant.
func (l Localizer) Time(t time.Time) template.HTML {
	return template.HTML(`<time datetime="` + t.UTC().Format(time.RFC3339) + `">` +
		template.HTMLEscapeString(l.Date(t)) + `</time>`)
}

// Methods words sign-in methods (what DescribeMethods returns) in this language, as a list.
func (l Localizer) Methods(methods []string) string {
	words := make([]string, len(methods))
	for i, m := range methods {
		words[i] = m
		if l.Has("method." + m) {
			words[i] = l.Text("method." + m)
		}
	}
	return strings.Join(words, l.message("list.separator"))
}

// DescribeScope is the description of a well-known scope in this language, or the scope's name.
func (l Localizer) DescribeScope(name string) string {
	if l.Has("scope."+name) || catalogs.messages[DefaultLanguage]["scope."+name] != "" {
		return l.Text("scope." + name)
	}
	return name
}

// describeScopes is a copy of scopes where each one without a description has the standard
// description in this language.
func (l Localizer) describeScopes(scopes []Scope) []Scope {
	out := make([]Scope, len(scopes))
	for i, s := range scopes {
		if s.Description == "" {
			s.Description = l.DescribeScope(s.Name)
		}
		out[i] = s
	}
	return out
}

func (l Localizer) message(key string) string {
	if m, ok := catalogs.messages[l.Tag()][key]; ok {
		return m
	}
	if m, ok := catalogs.messages[DefaultLanguage][key]; ok {
		return m
	}
	return key
}

// fill replaces each {name} of msg by the value named name in args (escaped by value), and
// escapes the text around the placeholders with text. An unknown placeholder stays as it is.
func fill(msg string, args []any, value func(any) string, text func(string) string) string {
	named := make(map[string]any, len(args)/2)
	for i := 0; i+1 < len(args); i += 2 {
		named[fmt.Sprint(args[i])] = args[i+1]
	}
	var b strings.Builder
	for {
		start := strings.IndexByte(msg, '{')
		if start < 0 {
			break
		}
		end := strings.IndexByte(msg[start:], '}')
		if end < 0 {
			break
		}
		name := msg[start+1 : start+end]
		v, ok := named[name]
		b.WriteString(text(msg[:start]))
		if ok {
			b.WriteString(value(v))
		} else {
			b.WriteString(text(msg[start : start+end+1]))
		}
		msg = msg[start+end+1:]
	}
	b.WriteString(text(msg))
	return b.String()
}

// strong is the template function that emphasises a message argument: {{$.T "key" "name"
// (strong .Value)}}; with an id, (strong .Value "element-id").
func strong(v any, id ...string) template.HTML {
	attr := ""
	if len(id) > 0 && id[0] != "" {
		attr = ` id="` + template.HTMLEscapeString(id[0]) + `"`
	}
	return template.HTML("<strong" + attr + ">" + template.HTMLEscapeString(fmt.Sprint(v)) + "</strong>")
}
