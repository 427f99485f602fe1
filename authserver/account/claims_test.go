package account

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

func TestClaimsFor(t *testing.T) {
	updated := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	addr := map[string]any{"locality": "Lyon", "country": "FR"}
	acc := &store.Account{
		Subject:   "s1",
		UpdatedAt: updated,
		Claims: map[string]any{
			"name": "Alice Liddell", "given_name": "Alice", "locale": "fr-FR",
			"email": "alice@example.com", "email_verified": true,
			"phone_number": "+33 1 23 45 67 89",
			"address":      addr,
			"department":   "R&D", // custom: no scope releases it
		},
	}
	tests := []struct {
		name   string
		acc    *store.Account
		scopes []string
		want   map[string]any
	}{
		{"openid only", acc, []string{"openid"}, map[string]any{}},
		{"no scopes", acc, nil, map[string]any{}},
		{"profile", acc, []string{"openid", "profile"}, map[string]any{
			"name": "Alice Liddell", "given_name": "Alice", "locale": "fr-FR",
			"updated_at": updated.Unix()}},
		{"email", acc, []string{"email"}, map[string]any{
			"email": "alice@example.com", "email_verified": true}},
		{"phone without verified flag", acc, []string{"phone"}, map[string]any{
			"phone_number": "+33 1 23 45 67 89"}},
		{"address", acc, []string{"address"}, map[string]any{"address": addr}},
		{"unknown and offline_access scopes", acc, []string{"offline_access", "department"}, map[string]any{}},
		{"all", acc, []string{"profile", "email", "address", "phone", "email"}, map[string]any{
			"name": "Alice Liddell", "given_name": "Alice", "locale": "fr-FR",
			"updated_at": updated.Unix(), "email": "alice@example.com", "email_verified": true,
			"phone_number": "+33 1 23 45 67 89", "address": addr}},
		{"explicit updated_at wins", &store.Account{UpdatedAt: updated,
			Claims: map[string]any{"updated_at": float64(42)}},
			[]string{"profile"}, map[string]any{"updated_at": float64(42)}},
		{"no updated_at without a time", &store.Account{}, []string{"profile"}, map[string]any{}},
		{"reserved claims never released", &store.Account{
			Claims: map[string]any{"sub": "forged", "iss": "x", "email": "e@example.com"}},
			[]string{"profile", "email", "openid"}, map[string]any{"email": "e@example.com"}},
		{"nil account", nil, []string{"profile"}, map[string]any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ClaimsFor(tt.acc, tt.scopes)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ClaimsFor = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestScopeClaims(t *testing.T) {
	if got := ScopeClaims("email"); !slices.Equal(got, []string{"email", "email_verified"}) {
		t.Fatalf("ScopeClaims(email) = %v", got)
	}
	ScopeClaims("email")[0] = "sub"
	if ScopeClaims("email")[0] != "email" {
		t.Fatal("ScopeClaims exposes the shared table")
	}
	if got := ScopeClaims("openid"); got != nil {
		t.Fatalf("ScopeClaims(openid) = %v, want nil", got)
	}
	all := SupportedClaims()
	if len(all) != 19 || !slices.IsSorted(all) || !slices.Contains(all, "phone_number_verified") {
		t.Fatalf("SupportedClaims = %v", all)
	}
}

func TestValidateClaims(t *testing.T) {
	var fromJSON map[string]any
	if err := json.Unmarshal([]byte(`{"name":"A","email_verified":false,"updated_at":1700000000,
		"address":{"formatted":"1 Main St","country":"US"},"roles":["admin"],"age":42}`), &fromJSON); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		claims  map[string]any
		wantErr string // substring; empty means valid
	}{
		{"nil", nil, ""},
		{"from JSON", fromJSON, ""},
		{"int updated_at", map[string]any{"updated_at": int64(1)}, ""},
		{"custom object", map[string]any{"groups": map[string]any{"a": 1}}, ""},
		{"sub", map[string]any{"sub": "x"}, `"sub"`},
		{"aud", map[string]any{"name": "A", "aud": "x"}, `"aud"`},
		{"cnf", map[string]any{"cnf": map[string]any{}}, `"cnf"`},
		{"nonce", map[string]any{"nonce": "n"}, `"nonce"`},
		{"aggregated claims marker", map[string]any{"_claim_names": map[string]any{}}, `"_claim_names"`},
		{"empty name", map[string]any{"": "x"}, "empty claim name"},
		{"email_verified string", map[string]any{"email_verified": "true"}, "boolean"},
		{"phone_number_verified number", map[string]any{"phone_number_verified": 1}, "boolean"},
		{"address string", map[string]any{"address": "1 Main St"}, "object"},
		{"address number member", map[string]any{"address": map[string]any{"postal_code": 75001}}, "postal_code"},
		{"address unknown member", map[string]any{"address": map[string]any{"planet": "Mars"}}, "planet"},
		{"updated_at string", map[string]any{"updated_at": "2024-01-01"}, "number"},
		{"email number", map[string]any{"email": 5}, `"email" must be a string`},
		{"name list", map[string]any{"name": []any{"A"}}, `"name" must be a string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateClaims(tt.claims)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("ValidateClaims = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("ValidateClaims = %v, want error containing %s", err, tt.wantErr)
			}
		})
	}
}

// NamedClaims (the claims request parameter) releases a claim only when the client may
// request the scope that releases it; nil allowed scopes allow every scope.
func TestNamedClaimsWithinAllowedScopes(t *testing.T) {
	acc := &store.Account{Subject: "s1", Claims: map[string]any{
		"name": "Ann", "email": "ann@example.test", "email_verified": true, "phone_number": "+33 1", "custom": "x"}}
	names := []string{"name", "email", "email_verified", "phone_number", "custom", "sub"}
	for _, tc := range []struct {
		allowed []string
		want    map[string]any
	}{
		{nil, map[string]any{"name": "Ann", "email": "ann@example.test", "email_verified": true, "phone_number": "+33 1"}},
		{[]string{"openid", "profile"}, map[string]any{"name": "Ann"}},
		{[]string{"email"}, map[string]any{"email": "ann@example.test", "email_verified": true}},
		{[]string{}, map[string]any{}},
	} {
		if got := NamedClaims(acc, names, tc.allowed); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("allowed %v: NamedClaims = %v, want %v", tc.allowed, got, tc.want)
		}
		for name := range tc.want {
			if !Releasable(name, tc.allowed) {
				t.Errorf("Releasable(%s, %v) = false", name, tc.allowed)
			}
		}
	}
	if Releasable("sub", nil) || Releasable("custom", nil) {
		t.Error("claims no scope releases must never be releasable by name")
	}
}
