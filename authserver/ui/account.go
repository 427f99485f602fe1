package ui

import (
	"net/http"
	"time"
)

// The account self-service pages (package selfservice): an overview of the signed-in
// account, the change-password form, the applications the user allowed and the user's
// sign-in sessions. Each is its own template (account.html, account_password.html,
// account_apps.html, account_sessions.html), executed with an AccountPage as .Data. Every
// form posts csrf_token; the pages need no script.

// Account page templates.
const (
	pageAccount         = "account"
	pageAccountPassword = "account_password"
	pageAccountApps     = "account_apps"
	pageAccountSessions = "account_sessions"
)

// AccountSection names one account page.
type AccountSection string

const (
	AccountOverview AccountSection = pageAccount
	AccountPassword AccountSection = pageAccountPassword
	AccountApps     AccountSection = pageAccountApps
	AccountSessions AccountSection = pageAccountSessions
)

// titleKey is the catalog key of the section's title.
func (s AccountSection) titleKey() string {
	switch s {
	case AccountPassword:
		return "account.password.title"
	case AccountApps:
		return "account.apps.title"
	case AccountSessions:
		return "account.sessions.title"
	}
	return "account.title"
}

// AccountNav links the account pages together; Current is the section shown.
type AccountNav struct {
	Overview, Password, Apps, Sessions string
	// SignOut is the end-session endpoint (RP-initiated logout without a client).
	SignOut string
	Current AccountSection
}

// AccountPage is one account self-service page.
type AccountPage struct {
	Section AccountSection
	Nav     AccountNav
	// Account names the signed-in user; Subject is their identifier.
	Account string
	Subject string
	// CSRFToken goes into every form; Action is where the section's forms post.
	CSRFToken string
	Action    string
	// Notice confirms a change (role=status); Error explains a refusal (role=alert).
	Notice string
	Error  string

	// Overview.
	SignedInAt time.Time
	Methods    []string

	// Password: PasswordManaged says the password cannot be changed here, and why;
	// MinPasswordLen is the shortest new password the server accepts (the form's minlength
	// and the {min} of its messages; the rule itself is the server's).
	PasswordManaged string
	MinPasswordLen  int

	Apps     []AccountApp
	Sessions []AccountSession
}

// AccountApp is one application the user allowed (a consent, or tokens issued to it).
type AccountApp struct {
	ClientID   string
	ClientName string
	Scopes     []Scope
	Resources  []Resource
	// GrantedAt is when the user last allowed it.
	GrantedAt time.Time
	// Remembered: a consent is stored, so the app is not asked again; Grants counts the live
	// token families.
	Remembered bool
	Grants     int
}

// AccountSession is one sign-in session of the user.
type AccountSession struct {
	ID         string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	Methods    []string
	// Device names the browser for people (e.g. "Firefox on Windows") and IP is the address it
	// signed in from; both "" when not recorded.
	Device string
	IP     string
	// Current is the session of this browser.
	Current bool
}

// DescribeMethods turns amr values (RFC 8176) into the methods the account pages name:
// "password", "passkey", "mfa" (several factors), or the amr value itself. The pages word
// each in their language (catalog keys "method.<name>").
func DescribeMethods(amr []string) []string {
	out := make([]string, 0, len(amr))
	for _, m := range amr {
		switch m {
		case "pwd":
			out = append(out, "password")
		case "hwk", "swk":
			out = append(out, "passkey")
		case "user":
			// user verification of a passkey: not a method of its own
		default:
			out = append(out, m)
		}
	}
	return out
}

// Account renders one account self-service page (p.Section; empty is the overview).
func (r *Renderer) Account(w http.ResponseWriter, status int, p AccountPage) error {
	if p.Section == "" {
		p.Section = AccountOverview
	}
	p.Nav.Current = p.Section
	page := string(p.Section)
	if _, ok := r.pages[page]; !ok {
		page = pageAccount
	}
	// Scopes without a description get the standard one in the page's language (a copy: the
	// caller's slices are left alone).
	apps := make([]AccountApp, len(p.Apps))
	for i, a := range p.Apps {
		a.Scopes = r.loc.describeScopes(a.Scopes)
		apps[i] = a
	}
	p.Apps = apps
	p.Notice, p.Error, p.PasswordManaged = r.loc.Message(p.Notice), r.loc.Message(p.Error, "min", p.MinPasswordLen), r.loc.Message(p.PasswordManaged)
	return r.render(w, status, page, r.loc.Text(p.Section.titleKey()), p, formActionSources(nil), false)
}

func init() {
	when := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	nav := AccountNav{Overview: "/account", Password: "/account/password", Apps: "/account/apps",
		Sessions: "/account/sessions", SignOut: "/end_session"}
	base := AccountPage{Nav: nav, Account: "alice", Subject: "alice-sub", CSRFToken: "csrf", Action: "/account/apps",
		Notice: "Done.", Error: "Something was wrong.", SignedInAt: when, Methods: []string{"password"},
		PasswordManaged: "The administrator manages this password.", MinPasswordLen: 8,
		Apps: []AccountApp{{ClientID: "example-app", ClientName: "Example App", Scopes: []Scope{{Name: "openid"}, {Name: "email"}, {Name: "custom", Description: "Configured text"}},
			Resources: []Resource{{Identifier: "https://api.example.com", Name: "Example API"}, {Identifier: "https://other.example.com"}},
			GrantedAt: when, Remembered: true, Grants: 2}},
		Sessions: []AccountSession{
			{ID: "s1", CreatedAt: when, LastSeenAt: when, ExpiresAt: when, Methods: []string{"password", "mfa"}, Current: true,
				Device: "Firefox on Linux", IP: "2001:db8::1"},
			{ID: "s2", CreatedAt: when, LastSeenAt: when, ExpiresAt: when, Methods: []string{"passkey"}},
		},
	}
	for _, s := range []AccountSection{AccountOverview, AccountPassword, AccountApps, AccountSessions} {
		p := base
		p.Section = s
		p.Nav.Current = s
		samples[string(s)] = view{Title: Lang(DefaultLanguage).Text(s.titleKey()), Data: p}
	}
}
