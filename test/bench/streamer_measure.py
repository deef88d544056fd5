#!/usr/bin/python3
"""streamer_measure.py: run one command and record its wall time and peak RSS.

Owns: the measurement of every streamer run of the benchmarks.  Usage:
  streamer_measure.py OUT.json -- COMMAND [ARGS...]
Writes {"elapsed_s", "maxrss_kb", "cpu_s", "rc"} to OUT.json when the command
ends (cpu_s: the command's user + system CPU seconds).
SIGTERM/SIGINT to this process is forwarded to the command (so a
long-running streamer can be stopped cleanly and still be measured).
Peak RSS comes from wait4()'s rusage (ru_maxrss, the kernel's high-water
mark of the child = VmHWM), so no sample can miss a peak.
"""
import json
import os
import signal
import subprocess
import sys
import time


def main():
    out, sep, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
    assert sep == "--" and cmd
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd)

    def forward(signum, _frame):
        proc.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while True:
        try:
            _pid, status, ru = os.wait4(proc.pid, 0)
            break
        except InterruptedError:
            continue
    elapsed = time.monotonic() - t0
    rc = os.waitstatus_to_exitcode(status)
    with open(out, "w") as f:
        json.dump({"elapsed_s": elapsed, "maxrss_kb": ru.ru_maxrss,
                   "cpu_s": ru.ru_utime + ru.ru_stime, "rc": rc}, f)
    return rc


if __name__ == "__main__":
    sys.exit(main())
