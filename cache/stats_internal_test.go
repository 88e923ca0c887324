package cache

import "testing"

// TestHitStripesSpreadNearbyStacks checks that goroutines whose stacks lie side by side count
// hits on different stripes. Stacks start at 2 KiB and are aligned to their size, so the
// goroutines of one burst (a parallel benchmark's, a server's handlers) often get adjacent
// ones; taking the address's bits from 13 up put four such stacks on one stripe.
func TestHitStripesSpreadNearbyStacks(t *testing.T) {
	for _, size := range []uintptr{2 << 10, 8 << 10, 32 << 10} {
		for base := uintptr(0xc000000000); base < 0xc000000000+1<<24; base += 7919 << 11 {
			base := base &^ (size - 1)
			const stacks = 8
			seen := map[uint64]uintptr{}
			for k := range uintptr(stacks) {
				// An address deep in each stack, where a hit's frame would be.
				addr := base + k*size + size - 200
				s := hitStripe(addr)
				if s >= 1<<hitStripeBits {
					t.Fatalf("stripe %d of %#x is out of range", s, addr)
				}
				if other, ok := seen[s]; ok {
					t.Fatalf("%d KiB stacks at %#x and %#x share stripe %d", size>>10, other, addr, s)
				}
				seen[s] = addr
			}
		}
	}
}

// TestHitsAddUp checks that hits counted from many goroutines, on whatever stripes, add up.
func TestHitsAddUp(t *testing.T) {
	var h hitCounter
	done := make(chan struct{})
	for range 16 {
		go func() {
			for range 1000 {
				h.inc()
			}
			done <- struct{}{}
		}()
	}
	for range 16 {
		<-done
	}
	if got := h.load(); got != 16000 {
		t.Fatalf("load() = %d after 16,000 hits", got)
	}
}
