#!/bin/sh
# No reward file: the exit code is the verdict.
test -f /work/done && test -f /etc/hermes-tb-built
