package courier

// Internals for the tests in package courier_test.

// Classify is classify, for a table of the standard library's errors.
var Classify = classify

// MaxErrorBody is the cap on StatusError.Body.
const MaxErrorBody = maxErrorBody

// Version is courier's version, as the default User-Agent sends it.
const Version = version

// ParseRetryAfter is parseRetryAfter, for its table and fuzz tests.
var ParseRetryAfter = parseRetryAfter

// ExhaustedFor is exhaustedFor, for its fuzz test.
var ExhaustedFor = exhaustedFor
