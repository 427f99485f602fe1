package logout

import (
	"math/rand/v2"
	"time"
)

// Backoff is exponential backoff with full jitter: the wait after the nth failed attempt is
// uniform in [0, min(Cap, Base·2^(n-1))], which spreads the retries of many deliveries that
// failed together (one receiver down) instead of sending them in waves.
type Backoff struct {
	Base time.Duration // default 1 s
	Cap  time.Duration // default 5 min
	// Rand returns a uniform value in [0, n]; nil means math/rand/v2. Tests pin it.
	Rand func(n int64) int64
}

// Defaults of Backoff.
const (
	DefaultBackoffBase = time.Second
	DefaultBackoffCap  = 5 * time.Minute
)

// Ceiling is the longest wait after the given failed attempt (1 for the first).
func (b Backoff) Ceiling(attempt int) time.Duration {
	base, ceiling := b.Base, b.Cap
	if base <= 0 {
		base = DefaultBackoffBase
	}
	if ceiling <= 0 {
		ceiling = DefaultBackoffCap
	}
	d := base
	for i := 1; i < attempt && d < ceiling; i++ {
		d *= 2 // stops at the cap long before it could overflow
	}
	return min(d, ceiling)
}

// Delay is the wait before the attempt after the given failed one.
func (b Backoff) Delay(attempt int) time.Duration {
	ceiling := int64(b.Ceiling(attempt))
	if b.Rand != nil {
		return time.Duration(b.Rand(ceiling))
	}
	return time.Duration(rand.Int64N(ceiling + 1))
}
