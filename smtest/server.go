package smtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
)

// Default identity of the emulated service.
const (
	DefaultRegion    = "us-east-1"
	DefaultAccountID = "123456789012"
)

// maxBody bounds a request body; Secrets Manager's largest request (a 64 KiB value, base64)
// fits with room to spare.
const maxBody = 1 << 20

// Server is an in-process Secrets Manager. It is safe for concurrent use. Create it with
// [NewServer] or [New]; the zero value is not usable.
type Server struct {
	// URL is the base URL of the server, "http://127.0.0.1:<port>", with no trailing slash.
	URL string

	ts       *httptest.Server
	cfg      config
	baseCtx  context.Context    // cancelled by Close: stops latency sleeps and rotations
	cancel   context.CancelFunc // cancels baseCtx
	closeMu  sync.Mutex         // serialises Close
	isClosed bool               // guarded by closeMu

	mu       sync.Mutex         // guards the fields below
	secrets  map[string]*secret // by name; live and scheduled-for-deletion secrets
	rotators map[string]rotator // by Lambda ARN
	rotErr   map[string]error   // last rotation outcome, by secret ARN
	active   map[string]string  // secret ARN -> RotationToken of the rotation running now

	faults Faults     // has its own lock
	calls  callCounts // has its own lock
}

type config struct {
	region    string
	accountID string
	now       func() time.Time
	addr      string
	keepAll   bool
	logger    *slog.Logger // nil: no request log
}

// Option configures a Server.
type Option func(*config)

// WithRegion sets the region in ARNs (default us-east-1) and of the client [Server.Client]
// returns.
func WithRegion(region string) Option { return func(c *config) { c.region = region } }

// WithAccountID sets the account in ARNs (default 123456789012).
func WithAccountID(id string) Option { return func(c *config) { c.accountID = id } }

// WithClock makes the server read the time from now instead of time.Now: creation, change,
// access, deletion and rotation dates all come from it. Fault injection (latency and rate
// limits) keeps using the real clock.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithAddr makes the server listen on addr (host:port) instead of 127.0.0.1:0. The
// standalone command uses it; tests should keep the default.
func WithAddr(addr string) Option { return func(c *config) { c.addr = addr } }

// WithDeprecatedVersionExemption makes the server keep deprecated versions younger than 24
// hours beyond the 100-version bound, as AWS does. By default the server keeps the newest 100
// versions of a secret and drops the oldest unlabelled ones past that.
func WithDeprecatedVersionExemption() Option { return func(c *config) { c.keepAll = true } }

// WithRequestLog makes the server log one line per request at Info level: the operation,
// the HTTP status and the error code. It never logs a request or response body, so no secret
// value reaches the log.
func WithRequestLog(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// NewServer starts a Secrets Manager server on 127.0.0.1 and a free port. Call Close when
// done, or use [New] in tests.
func NewServer(opts ...Option) *Server {
	cfg := config{region: DefaultRegion, accountID: DefaultAccountID, now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{
		cfg:      cfg,
		secrets:  map[string]*secret{},
		rotators: map[string]rotator{},
		rotErr:   map[string]error{},
		active:   map[string]string{},
	}
	s.baseCtx, s.cancel = context.WithCancel(context.Background())
	s.ts = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	if cfg.addr != "" {
		l, err := net.Listen("tcp", cfg.addr)
		if err != nil {
			panic(fmt.Sprintf("smtest: listen on %s: %v", cfg.addr, err))
		}
		s.ts.Listener.Close()
		s.ts.Listener = l
	}
	s.ts.Start()
	s.URL = s.ts.URL
	return s
}

// New starts a server like [NewServer] and registers its Close with tb.Cleanup.
func New(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s := NewServer(opts...)
	tb.Cleanup(s.Close)
	return s
}

// Close stops the server: it cancels running rotations and latency sleeps, then waits for
// in-flight requests to finish. It may be called more than once.
func (s *Server) Close() {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.isClosed {
		return
	}
	s.isClosed = true
	s.cancel()
	s.ts.Close()
}

// Faults returns the server's fault injection: latency, error codes, throttling and outages
// for the requests that follow.
func (s *Server) Faults() *Faults { return &s.faults }

// Client returns a real aws-sdk-go-v2 Secrets Manager client wired to the server: base
// endpoint s.URL, static test credentials, the server's region, the SDK's default retryer.
// It reads nothing from the machine's AWS configuration or environment. optFns adjust the
// options, for instance RetryMaxAttempts or Retryer. The default retryer keeps a retry quota
// (500 tokens, 5 per retry, 10 per timeout) per client: a test that injects more than about
// a hundred retried faults into one client should give it a retryer with ratelimit.None.
func (s *Server) Client(optFns ...func(*secretsmanager.Options)) *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{
		Region:       s.cfg.region,
		BaseEndpoint: aws.String(s.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDSMTEST", "smtest-not-a-secret", ""),
		HTTPClient:   s.ts.Client(),
	}, optFns...)
}

// now returns the server's clock reading, in UTC.
func (s *Server) now() time.Time { return s.cfg.now().UTC() }

// apiError is an error answer: an HTTP status, a code and a message free of secret values.
type apiError struct {
	status int
	code   string
	msg    string
}

// Error is the code and message, as the SDK would print them.
func (e *apiError) Error() string { return e.code + ": " + e.msg }

// ErrorCode, ErrorMessage and ErrorFault make an apiError a smithy.APIError, so
// rotasafe.ErrorCode reads the code of an error TriggerRotation returns.
func (e *apiError) ErrorCode() string    { return e.code }
func (e *apiError) ErrorMessage() string { return e.msg }
func (e *apiError) ErrorFault() smithy.ErrorFault {
	if e.status >= 500 {
		return smithy.FaultServer
	}
	return smithy.FaultClient
}

func errf(code, format string, args ...any) *apiError {
	return &apiError{status: statusFor(code), code: code, msg: fmt.Sprintf(format, args...)}
}

// statusFor is the HTTP status Secrets Manager answers a code with: 500 for its server
// faults, 503 when unavailable, 400 for everything else.
func statusFor(code string) int {
	switch code {
	case "InternalServiceError", "InternalFailure":
		return http.StatusInternalServerError
	case "ServiceUnavailable":
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

// Error codes the server answers with.
const (
	codeNotFound      = "ResourceNotFoundException"
	codeInvalidReq    = "InvalidRequestException"
	codeInvalidParam  = "InvalidParameterException"
	codeExists        = "ResourceExistsException"
	codeNextToken     = "InvalidNextTokenException"
	codeValidation    = "ValidationException"
	codeAccessDenied  = "AccessDeniedException"
	codeThrottling    = "ThrottlingException"
	codeUnavailable   = "ServiceUnavailable"
	codeUnknownOp     = "UnknownOperationException"
	codeSerialization = "SerializationException"
)

// handlers maps operation names to their implementations.
var handlers = map[string]func(*Server, context.Context, *request) (any, *apiError){
	"CreateSecret":             (*Server).createSecret,
	"GetSecretValue":           (*Server).getSecretValue,
	"DescribeSecret":           (*Server).describeSecret,
	"PutSecretValue":           (*Server).putSecretValue,
	"UpdateSecretVersionStage": (*Server).updateSecretVersionStage,
	"GetRandomPassword":        (*Server).getRandomPassword,
	"ListSecretVersionIds":     (*Server).listSecretVersionIds,
	"RotateSecret":             (*Server).rotateSecret,
	"CancelRotateSecret":       (*Server).cancelRotateSecret,
	"UpdateSecret":             (*Server).updateSecret,
	"DeleteSecret":             (*Server).deleteSecret,
	"RestoreSecret":            (*Server).restoreSecret,
	"ListSecrets":              (*Server).listSecrets,
	"BatchGetSecretValue":      (*Server).batchGetSecretValue,
	"TagResource":              (*Server).tagResource,
	"UntagResource":            (*Server).untagResource,
}

// unmodelled lists the Secrets Manager operations smtest does not implement; they get
// UnknownOperationException with a message that says so.
var unmodelled = []string{
	"AssociateCrossAccountReplica", "DeleteResourcePolicy", "DisassociateCrossAccountReplica",
	"GetResourcePolicy", "ListResourcePolicies", "PutResourcePolicy", "RemoveRegionsFromReplication",
	"ReplicateSecretToRegions", "StopReplicationToReplica", "ValidateResourcePolicy",
}

const targetPrefix = "secretsmanager."

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, targetPrefix)
	if l := s.cfg.logger; l != nil {
		lw := &logWriter{ResponseWriter: w, status: http.StatusOK}
		w = lw
		defer func() {
			name := op
			if _, known := handlers[op]; !known || !ok {
				name = "(unknown)"
			}
			l.Info("smtest request", "op", name, "status", lw.status, "code", lw.code, "request_id", reqID)
		}()
	}
	if !ok || r.Method != http.MethodPost {
		s.calls.count("")
		writeError(w, reqID, &apiError{status: 400, code: codeUnknownOp, msg: "The operation requested is not a Secrets Manager operation."})
		return
	}
	h, known := handlers[op]
	s.calls.count(op)
	if !known {
		msg := "The operation requested is not a Secrets Manager operation."
		if slices.Contains(unmodelled, op) {
			msg = "smtest does not implement Secrets Manager's " + op + "."
		}
		writeError(w, reqID, &apiError{status: 400, code: codeUnknownOp, msg: msg})
		return
	}
	// The body is read before any injected latency: only then does net/http watch the
	// connection, so that a client that gives up ends the wait (r.Context() is cancelled)
	// instead of leaving the handler waiting out the latency.
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		writeError(w, reqID, errf(codeSerialization, "The request body could not be read."))
		return
	}
	if err := s.faults.before(r.Context(), s.baseCtx, op); err != nil {
		writeError(w, reqID, err)
		return
	}
	if len(body) > maxBody {
		writeError(w, reqID, errf(codeValidation, "The request body is larger than %d bytes.", maxBody))
		return
	}
	req, aerr := decodeRequest(body)
	if aerr != nil {
		writeError(w, reqID, aerr)
		return
	}
	if op == "GetSecretValue" {
		s.calls.read(aws.ToString(req.VersionStage))
	}
	s.mu.Lock()
	s.purgeExpired()
	s.mu.Unlock()
	out, aerr := h(s, r.Context(), req)
	if aerr != nil {
		writeError(w, reqID, aerr)
		return
	}
	writeJSON(w, reqID, http.StatusOK, out)
}

// logWriter notes the status and error code of an answer for the request log.
type logWriter struct {
	http.ResponseWriter
	status int
	code   string
}

// WriteHeader records the status and the error code, then writes the header.
func (w *logWriter) WriteHeader(status int) {
	w.status = status
	if t := w.Header().Get("X-Amzn-ErrorType"); t != "" {
		w.code, _, _ = strings.Cut(t, ":")
	}
	w.ResponseWriter.WriteHeader(status)
}

func writeJSON(w http.ResponseWriter, reqID string, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"__type":"InternalServiceError","Message":"The server could not encode its answer."}`)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("x-amzn-RequestId", reqID)
	w.WriteHeader(status)
	w.Write(b)
}

// writeError answers an error the way AWS does: the code in X-Amzn-ErrorType and in the
// body's __type, the text in Message.
func writeError(w http.ResponseWriter, reqID string, e *apiError) {
	w.Header().Set("X-Amzn-ErrorType", e.code+":http://internal.amazon.com/coral/com.amazonaws.secretsmanager/")
	writeJSON(w, reqID, e.status, map[string]string{"__type": e.code, "Message": e.msg})
}

// decodeRequest parses a request body. An empty body counts as {}. The error never quotes the
// body: it may hold a secret value.
func decodeRequest(body []byte) (*request, *apiError) {
	req := &request{}
	if len(strings.TrimSpace(string(body))) == 0 {
		return req, nil
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	if err := dec.Decode(req); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, errf(codeSerialization, "Member %s has the wrong JSON type.", te.Field)
		}
		return nil, errf(codeSerialization, "The request body is not a valid JSON object (at byte %d).", dec.InputOffset())
	}
	if dec.More() {
		return nil, errf(codeSerialization, "The request body holds more than one JSON value.")
	}
	return req, nil
}

// newUUID returns a random lowercase UUIDv4.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func newRequestID() string { return newUUID() }
