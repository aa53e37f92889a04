package courier

// Internals for the tests in package courier_test.

// Classify is classify, for a table of the standard library's errors.
var Classify = classify

// MaxErrorBody is the cap on StatusError.Body.
const MaxErrorBody = maxErrorBody
