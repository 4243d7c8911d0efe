#!/bin/sh
# Check greet.sh's output; exit non-zero on the first mismatch.
set -e
expect() {
    got=$(sh ./greet.sh "$1")
    if [ "$got" != "$2" ]; then
        printf 'FAIL: greet.sh %s printed %s, expected %s\n' "$1" "$got" "$2"
        exit 1
    fi
    printf 'ok: greet.sh %s\n' "$1"
}
expect world 'Hello, world!'
expect lightci 'Hello, lightci!'
