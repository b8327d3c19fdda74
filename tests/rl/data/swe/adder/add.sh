#!/bin/sh
# add A B: print the sum of two integers
echo $(( $1 - $2 ))
