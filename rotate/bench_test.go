package rotate

import (
	"testing"

	"github.com/rotasafe/rotasafe"
)

// BenchmarkRotate measures one whole rotation (four steps, smtest and a real cluster).
func BenchmarkRotate(b *testing.B) {
	base := newEnv(b)
	for _, sc := range scenarios[:2] {
		b.Run("strategy="+sc.name, func(b *testing.B) {
			e := base.sub(b)
			id, _ := e.newSecret(sc, e.master())
			h := NewHandler(nil, sc.strategy(WithTLSMode(TLSDisable)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Rotate(b.Context(), e.api, id, h); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			e.mustLogIn(id, rotasafe.StageCurrent)
		})
	}
}
