package rotate

import "fmt"

// Scenario is one of the three rotation scenarios of AWS's guide to writing a rotation
// function. It says which credentials log in during and after a rotation, which is what an
// application may rely on and what package rotatetest checks a Strategy against.
type Scenario int

const (
	// ScenarioSingleUser: one user with one password, changed in place. From setSecret to
	// finishSecret only AWSPENDING's password logs in (applications must fall back to it);
	// after the rotation AWSPREVIOUS's does not. [PostgresSingleUser], [MySQLSingleUser].
	ScenarioSingleUser Scenario = iota + 1
	// ScenarioAlternatingUsers: two users, the second a clone of the first, whose passwords an
	// admin changes in turn. AWSCURRENT logs in throughout a rotation, and AWSPREVIOUS (the
	// other user) until the next rotation's setSecret. [PostgresAlternatingUsers],
	// [MySQLAlternatingUsers].
	ScenarioAlternatingUsers
	// ScenarioMultiCredential: one user that holds several credentials at once. AWSCURRENT
	// logs in throughout a rotation, and AWSPREVIOUS until the next rotation's setSecret.
	// [MultiCredentialStrategy], [MySQLDualPassword].
	ScenarioMultiCredential
)

// String returns the scenario's name as this package's documentation writes it.
func (s Scenario) String() string {
	switch s {
	case ScenarioSingleUser:
		return "single user"
	case ScenarioAlternatingUsers:
		return "alternating users"
	case ScenarioMultiCredential:
		return "multi-credential"
	}
	return fmt.Sprintf("Scenario(%d)", int(s))
}

// KeepsCurrent reports whether AWSCURRENT logs in at every moment of a rotation in the
// scenario, and AWSPREVIOUS after it until the next rotation's setSecret: true for every
// scenario but ScenarioSingleUser.
func (s Scenario) KeepsCurrent() bool {
	return s == ScenarioAlternatingUsers || s == ScenarioMultiCredential
}
