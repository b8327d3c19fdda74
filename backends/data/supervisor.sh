#!/bin/sh
# hermes-tui's supervisor inside a sandbox (container, remote host, instance): POSIX sh,
# coreutils and util-linux `script` (PTY mode) only. Usage: supervisor.sh RUN_DIR
#
# RUN_DIR holds `cmd` (the command line), `workdir`, and `size` ("ROWS COLS") for PTY mode.
# It writes `pid` ("PID START_TICKS BOOT_ID", atomically), appends all output to `out`,
# feeds the FIFO `in` to the command's stdin (or PTY) and writes `exit` atomically.
# The app starts it detached (setsid, no terminal), so it outlives the app's connection.
set -u
run=$1
cd "$run" || exit 1
mkfifo in || exit 1
# Holding the FIFO read-write keeps a writer, so the command never sees EOF on stdin.
exec 3<>in
workdir=$(cat workdir 2>/dev/null || echo /)
if [ -f size ]; then
    read rows cols < size
    HERMES_RUN="$run" setsid script -q -f -e -c "stty rows $rows cols $cols 2>/dev/null; cd \"$workdir\" && exec sh \"$run/cmd\"" /dev/null <&3 >out 2>&1 &
else
    (cd "$workdir" && exec setsid sh "$run/cmd") <&3 >out 2>&1 &
fi
pid=$!
boot=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown)
ticks=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f20)
ticks=${ticks:-0}  # a command that already ended and was reaped: its exit comes next
echo "$pid $ticks $boot" > pid.tmp && mv pid.tmp pid
wait "$pid"
echo "$?" > exit.tmp && mv exit.tmp exit
