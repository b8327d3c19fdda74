#!/bin/sh
# hermes-tui's per-process supervisor, for every backend (this host, containers, remote hosts,
# instances): POSIX sh, a few coreutils and util-linux `script` (PTY mode) only, so it costs a
# few hundred KB per process and runs wherever a shell does. Usage: supervisor.sh RUN_DIR
#
# The app starts it detached with `setsid setsid sh supervisor.sh RUN_DIR` (a double fork with no
# `&`: a non-interactive shell starts `&` jobs with SIGINT and SIGQUIT ignored, for good, and the
# command would inherit that). It runs the command in the foreground, so it lives exactly as
# long as the command; the command is nobody's but the supervisor's, in a session of its own,
# so it outlives the app and its connection. Readiness is the `pid` file (or `error`).
#
# Run directory protocol (shared by every backend; the app reads it through files only):
#
# ==========  ==========  ==========================================================================
# file        written by  content
# ==========  ==========  ==========================================================================
# cmd         app         the command as sh text, run with `sh cmd` (an argv is `exec 'a' 'b'`)
# workdir     app         where the command starts (absent: where the supervisor was started)
# size        app         "ROWS COLS": run under a PTY of that size (absent: plain stdin/stdout)
# info.json   app         what was started (command, name, owner...), for recovery without the
#                         app's checkpoint; never read by the supervisor
# in          supervisor  FIFO: bytes written here reach the command's stdin (or its PTY)
# out         command     everything it printed (stdout and stderr), byte-addressed
# pid         supervisor  "PID TICKS BOOT SUPERVISOR_PID SUPERVISOR_TICKS", atomically (rename),
#                         written by the command's own process just before it execs `cmd`: the
#                         command (leader of its own session and process group) and the
#                         supervisor, each identified by pid + start time + boot id
# error       supervisor  why the command could not be started
# exit        supervisor  the exit status, -N for a death by signal N (sh's 128+N when the
#                         supervisor could not tell, e.g. under a PTY), atomically; its block is reserved at the start, so a full disk later
#                         cannot lose it. Its mtime is the time of the end
# signalled   app         signal numbers the app sent, one a line: tells 128+N "killed by N"
#                         apart from a plain exit status of 128+N
# kill        app         why the app killed the process (shown as the kill reason)
# ==========  ==========  ==========================================================================
#
# Every process of the command has HERMES_RUN=RUN_DIR in its environment: the marker a kill
# sweeps for, so descendants that left the process group (setsid, job control) are found too.
set -u
umask 077

# Builtins and parameter expansion rather than `$(cat ...)`, dirname or pwd: every fork and exec
# before the command starts is startup latency (several ms each on a busy machine).

# Sets `ticks` to the start time of a pid in clock ticks since boot (field 22 of /proc/PID/stat,
# counted after the command name, which may hold spaces and parentheses); 0 when it has gone.
ticks_of() {
    ticks=0
    { IFS= read -r line < "/proc/$1/stat"; } 2>/dev/null || return 0
    set -- ${line##*") "}
    shift 19
    ticks=${1:-0}
}

if [ "${1-}" = --exec ]; then
    # Second stage, in the command's own process (its session leader): record who it is, then
    # become the command.
    { IFS= read -r boot < /proc/sys/kernel/random/boot_id; } 2>/dev/null || boot=unknown
    ticks_of $$
    line="$$ $ticks $boot $HERMES_SUPERVISOR"
    unset HERMES_SUPERVISOR HERMES_SUPERVISOR_SH
    if ! { echo "$line" > "$2/pid.tmp" && mv -f "$2/pid.tmp" "$2/pid"; } 2>/dev/null; then
        echo "cannot write in $2 (is the disk full?)" > "$2/error"
        exit 126
    fi
    exec sh "$2/cmd"
fi

case $0 in /*) self=$0 ;; *) self=$PWD/$0 ;; esac
start_dir=$PWD
cd "$1" || exit 1
run=$PWD
exec 2>>error </dev/null >/dev/null

mkfifo in || exit 1
# Holding the FIFO read-write keeps a writer, so the command never sees EOF on stdin.
exec 3<>in
printf '%-20s\n' '' > exit.pre || exit 1
: > died || exit 1
workdir=$start_dir
if [ -f workdir ]; then
    # One line (no newline in the path): read it; otherwise let $(cat) keep every newline.
    { IFS= read -r workdir; IFS= read -r more || [ -n "$more" ]; } < workdir &&
        workdir=$(cat workdir)
fi
if [ ! -d "$workdir" ]; then
    echo "working directory does not exist: $workdir" >&2
    exit 1
fi
ticks_of $$
export HERMES_RUN="$run" HERMES_SUPERVISOR="$$ $ticks" HERMES_SUPERVISOR_SH="$self"

# A signal sent to the supervisor must not end it before the command: it waits on, and the
# command's end is still recorded.
trap : TERM INT HUP QUIT
if [ -f size ]; then
    read -r rows cols < size
    # The PTY's size and every path reach script's inner shell as environment, never as shell
    # text: a workdir or run dir holding quotes or $(...) is only ever data.
    (
        cd "$workdir" || exit 126
        export HERMES_ROWS="$rows" HERMES_COLS="$cols" HERMES_SHELL="${SHELL-}" SHELL=/bin/sh
        exec script -q -f -e -c \
            'stty rows "$HERMES_ROWS" cols "$HERMES_COLS" 2>/dev/null
             if [ -n "$HERMES_SHELL" ]; then SHELL=$HERMES_SHELL; else unset SHELL; fi
             unset HERMES_ROWS HERMES_COLS HERMES_SHELL
             exec sh "$HERMES_SUPERVISOR_SH" --exec "$HERMES_RUN"' /dev/null
    ) <&3 3<&- >out 2>&1
    code=$?
else
    # sh reports a death by signal N as 128+N, like an exit with that status, but it also
    # prints the signal's name on its stderr (for all but INT and PIPE): that tells them apart.
    # (Not `{ ...; } 2>died`: dash then drops the subshell's own redirections.)
    exec 2>died  # created above: truncating it needs no space
    (cd "$workdir" && exec setsid sh "$self" --exec "$run") <&3 3<&- >out 2>&1
    code=$?
    exec 2>>error
    [ -s died ] && [ "$code" -gt 128 ] && code=$((128 - code))
fi
rm -f died

# exit.pre's block was reserved at the start: overwriting it in place and renaming it needs no
# new space. If even that fails, keep trying: the code must not be lost.
until { printf '%s' "$code" 1<>exit.pre && mv -f exit.pre exit; } ||
      { printf '%s\n' "$code" > exit.tmp && mv -f exit.tmp exit; }; do
    sleep 1
done
