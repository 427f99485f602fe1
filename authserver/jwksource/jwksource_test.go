package jwksource

import (
	"fmt"
	"testing"
	"time"
)

func TestCacheBounded(t *testing.T) {
	var c Cache
	for i := range MaxEntries + 10 {
		c.record(fmt.Sprintf("https://client%d.example/jwks", i), nil, nil, time.Unix(0, 0))
	}
	if n := len(c.entries); n > MaxEntries {
		t.Errorf("cache holds %d entries, limit %d", n, MaxEntries)
	}
}
