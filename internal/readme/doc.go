// Package readme holds the test that keeps README.md's Go snippets true:
// each is the code of an Example function (or of the declarations beside
// one), copied from a region of an example_test.go file marked
//
//	// README: <name>
//	...
//	// README end
//
// and announced in the README by an HTML comment on the line before the
// snippet's fence:
//
//	<!-- example: <path from the repository root> <name> -->
//
// Blank lines before the end marker are not part of the region. The
// examples compile and run (go test checks their Output), so a snippet
// that matches its region compiles too. A Go snippet without a marker, a
// marker without a region, or a snippet that differs from its region fails
// the test; the fix is to copy the region into the README again.
package readme
