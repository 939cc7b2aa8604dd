#!/usr/bin/env bash
# Runs a command (the tests) with TMPDIR set to a folder of its own, where the
# tests put their scratch files (peers' register maps, history files,
# pseudo-terminals, the browser's profile): removed when the command passes,
# kept and named when it fails.
set -u
scratch=$(mktemp -d "${TMPDIR:-/tmp}/fusebox-test-XXXXXX")
TMPDIR=$scratch "$@"
status=$?
if [ "$status" -eq 0 ]; then rm -rf "$scratch"; else echo "the tests' scratch files are kept in $scratch" >&2; fi
exit "$status"
