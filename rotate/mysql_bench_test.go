package rotate

import (
	"testing"

	"github.com/rotasafe/rotasafe"
)

// BenchmarkMySQLRotate measures one whole rotation (four steps, smtest and a real MariaDB)
// per MySQL strategy.
func BenchmarkMySQLRotate(b *testing.B) {
	base := newMyEnv(b)
	for _, sc := range myScenarios[:3] {
		b.Run("strategy="+sc.name, func(b *testing.B) {
			e := base.sub(b)
			id, _ := e.newSecret(e.master())
			h := NewHandler(nil, sc.strategy(WithTLSMode(TLSDisable)), WithLogger(nil)) // the steps, not their log lines
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
