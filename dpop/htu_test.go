package dpop

import "testing"

func TestHTUMatches(t *testing.T) {
	for _, tc := range []struct {
		htu, url string
		want     bool
	}{
		{"https://a.example/p", "https://a.example/p", true},
		{"https://a.example/p?x=1#f", "https://a.example/p?y=2", true},
		{"HTTPS://A.EXAMPLE/p", "https://a.example/p", true},
		{"https://a.example:443/p", "https://a.example/p", true},
		{"http://a.example:80/p", "http://a.example/p", true},
		{"https://a.example:/p", "https://a.example/p", true},
		{"https://a.example", "https://a.example/", true},
		{"https://a.example?q", "https://a.example/", true},
		{"https://a.example/%7euser/a%2fb", "https://a.example/~user/a%2Fb", true},
		{"https://[::1]:443/p", "https://[::1]/p", true},
		{"https://[::1]:8443/p", "https://[::1]:8443/p", true},

		{"https://a.example/P", "https://a.example/p", false}, // path is case-sensitive
		{"https://a.example/p/", "https://a.example/p", false},
		{"http://a.example/p", "https://a.example/p", false},
		{"https://a.example:80/p", "https://a.example/p", false},
		{"https://a.example:8443/p", "https://a.example/p", false},
		{"https://b.example/p", "https://a.example/p", false},
		{"https://a.example/a%2fb", "https://a.example/a/b", false}, // %2F is not "/"
		{"https://user@a.example/p", "https://a.example/p", false},
		{"ftp://a.example/p", "ftp://a.example/p", false},
		{"/p", "/p", false},
		{"https:///p", "https:///p", false},
		{"https://a.example/%zz", "https://a.example/%zz", false},
		{"https://a.example/%4", "https://a.example/%4", false},
		{"https://a.example/ p", "https://a.example/ p", false},
		{"https://a.example:8x/p", "https://a.example:8x/p", false},
		{"https://[::1/p", "https://[::1/p", false},
		{"https://[::1]x/p", "https://[::1]x/p", false},
		{"http://::", "http://::", false},
		{"https://a_b.example/p", "https://a_b.example/p", true},
		{"https://a\"b/p", "https://a\"b/p", false},
		{"", "", false},
	} {
		if got := htuMatches(tc.htu, tc.url); got != tc.want {
			t.Errorf("htuMatches(%q, %q) = %v, want %v", tc.htu, tc.url, got, tc.want)
		}
	}
}

func BenchmarkHTUMatches(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if !htuMatches("https://api.example.com/resource?x=1", "https://api.example.com/resource") {
			b.Fatal("no match")
		}
	}
}
