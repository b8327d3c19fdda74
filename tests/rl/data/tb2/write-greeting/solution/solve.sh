#!/bin/sh
echo 'Hello, Hermes' > /app/greeting.txt
