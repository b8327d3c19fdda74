#!/bin/sh
# Harbor verifier: the reward goes to /logs/verifier/reward.txt.
mkdir -p /logs/verifier
if [ "$(cat /app/greeting.txt 2>/dev/null)" = "Hello, Hermes" ]; then
    echo 1 > /logs/verifier/reward.txt
else
    echo 0 > /logs/verifier/reward.txt
fi
