package selfservice

import "testing"

func TestDescribeAgent(t *testing.T) {
	tests := []struct{ header, want string }{
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0", "Firefox on Windows"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1", "Safari on iOS"},
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36", "Chrome on Linux"},
		{"Go-http-client/1.1", ""},
		{"", ""},
		{"\x00\xff<script>", ""},
	}
	for _, tt := range tests {
		if got := describeAgent(tt.header); got != tt.want {
			t.Errorf("describeAgent(%q) = %q, want %q", tt.header, got, tt.want)
		}
	}
}

func TestAppendNew(t *testing.T) {
	got := appendNew([]string{"a", "b"}, "b", "c", "a", "d")
	if want := []string{"a", "b", "c", "d"}; len(got) != len(want) || got[2] != "c" || got[3] != "d" {
		t.Errorf("appendNew = %v, want %v", got, want)
	}
}
