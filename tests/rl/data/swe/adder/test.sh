#!/bin/sh
test "$(sh add.sh 2 3)" = 5 && test "$(sh add.sh 10 -4)" = 6
