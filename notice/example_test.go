package notice_test

import (
	"fmt"
	"time"

	"github.com/rotasafe/rotasafe/notice"
)

func ExampleEncode() {
	b, err := notice.Encode(notice.Notice{
		SecretARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/app/db-AbCdEf",
		VersionID: "c0ffee00-1234-4321-8888-0123456789ab",
		Kind:      notice.PasswordChanged,
		At:        time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	})
	fmt.Println(string(b), err)
	// Output:
	// {"v":1,"kind":"password-changed","secret":"arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/app/db-AbCdEf","version":"c0ffee00-1234-4321-8888-0123456789ab","at":"2026-01-02T03:04:05Z"} <nil>
}

func ExampleDecode() {
	_, err := notice.Decode([]byte(`{"v":1,"kind":"password-changed","secret":"hunter2","version":"v1"}`))
	fmt.Println(err) // names the field, never the value
	// Output:
	// notice: field "secret" is not an ARN (arn:partition:service:region:account:resource)
}
