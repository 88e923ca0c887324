// Package rotatetest proves a rotation [rotate.Strategy] safe before it runs against
// production, the way testing/fstest.TestFS proves a file system: one call from a test runs
// the strategy through rotations against an in-process Secrets Manager (package smtest, no
// network) and the user's own service, and reports every invariant it breaks.
//
//	func TestRabbitStrategy(t *testing.T) {
//		err := rotatetest.TestStrategy(t.Context(), mystrategy.New(), rotatetest.Config{
//			Scenario: rotate.ScenarioAlternatingUsers,
//			Secret:   `{"host":"...","username":"app","password":"...","masterarn":"admin"}`,
//			Secrets:  map[string]string{"admin": `{"host":"...","username":"admin","password":"..."}`},
//			Login:    func(ctx context.Context, secret string) error { return tryLogin(ctx, secret) },
//		})
//		if err != nil {
//			t.Fatal(err)
//		}
//	}
//
// The checks, in order, on one secret whose state carries from one to the next:
//
//   - rotations: several full rotations; after each AWSCURRENT logs in, AWSPREVIOUS logs in
//     or not as the Scenario says, the value from two rotations back no longer does, every
//     value is new, and an alternating-users rotation moves AWSCURRENT to the other user;
//   - steps run twice: every step runs twice in a row, and the second run changes nothing;
//   - steps replayed: each step runs again after the next one ran, and changes nothing;
//   - interrupted at every Secrets Manager call: each call of a rotation fails in turn; after
//     each failure a credential under AWSCURRENT or AWSPENDING logs in (AWSCURRENT itself when
//     the Scenario keeps it), and the rotation, resumed as Secrets Manager retries it, completes;
//   - interrupted between steps: the same, with the rotation stopped after each step;
//   - concurrent rotations: two in-process rotations at once are serialised, and a
//     RotateSecret while a rotation runs is refused without touching it;
//   - throughout: Create and Test leave the service as it was; no step panics; and at the end,
//     no value the run made or read appears in an error of any step, a panic, a line of the
//     handler's log or an entry Config.Accepted listed.
//
// A failure names the check, the step, the interruption point and the invariant, never a
// value. The rotations go through smtest's RotateSecret, so the strategy runs as it would in a
// Lambda function.
package rotatetest
