//go:build !unix

package jsonl

// noFollow is 0 where the system has no O_NOFOLLOW; Open then refuses a
// link found by os.Lstat only.
const noFollow = 0
