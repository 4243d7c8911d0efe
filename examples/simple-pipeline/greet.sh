#!/bin/sh
# Print a greeting for the name given as the first argument.
name=${1:-stranger}
printf 'Hello, %s!\n' "$name"
