#!/usr/bin/env python3
"""Counts the instructions each bench server executes per request, under
valgrind's callgrind: a measure that, unlike req/s on a shared 2-core
machine (up to 25% apart from one round to the next), repeats to within a
percent, so a change to the data path can be compared before and after.

Called by ./scripts/bench-instructions after it has installed valgrind, wrk
and redis-server and built the servers (bench/target/release). For each
server: one redis-server on a free loopback port, the server under
`valgrind --tool=callgrind --instr-atstart=no`, SESSIONS sessions through
GET /seed; then for /read, /write, /incr and /seed (no cookie: anonymous
creates): a warm-up with instrumentation on, the counters zeroed, wrk for
a few seconds, a dump. Instructions per request = the dump's total over the
requests wrk completed.

What it does not measure: time spent in the kernel (sockets), in Redis,
and waiting on memory; valgrind runs the program on one core at a time.

Valgrind also hides the CPU's SHA extensions, so SHA-256 (this project
hashes and signs the session id; the peers do not) runs in software and
costs about ten times what it costs natively: the table gives the total and
the count outside `sha2::sha256::compress256`.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the bench's own helpers: ports, Redis, seeding)

ROUTES = [("read", "GET", True), ("write", "POST", True), ("incr", "POST", True),
          ("seed", "GET", False)]
DEFAULT_SERVERS = ["ours-axum", "ours-actix", "tower-sessions", "actix-session"]


def totals(path):
    """(all instructions, instructions inside SHA-256 compression) of a dump."""
    total = None
    for line in open(path):
        if line.startswith("totals:"):
            total = int(line.split()[1])
    if total is None:
        sys.exit(f"no totals in {path}")
    out = subprocess.run(["callgrind_annotate", "--threshold=100", "--auto=no", path],
                         capture_output=True, text=True, check=True).stdout
    sha = 0
    for line in out.splitlines():
        if "sha2::sha256::compress256" in line:
            sha += int(line.split()[0].replace(",", ""))
    return total, sha


def control(pid, *args):
    subprocess.run(["callgrind_control", *args, str(pid)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure_server(args, binary, workdir):
    redis = run.Redis(workdir)
    port = run.free_port()
    out_file = os.path.join(workdir, f"cg.{binary}")
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no",
         f"--callgrind-out-file={out_file}", os.path.join(run.RELEASE, binary),
         str(port), redis.url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    script = os.path.join(workdir, "wrk.lua")
    with open(script, "w") as f:
        f.write(run.WRK_SCRIPT)
    results = {}
    try:
        run.wait_for_port(port, proc, binary, timeout=120.0)
        cookies = run.seed(port, args.sessions, True)
        cookie_file = os.path.join(workdir, f"cookies.{binary}")
        with open(cookie_file, "w") as f:
            f.write("\n".join(cookies) + "\n")
        control(proc.pid, "-i", "on")
        dump = 0
        for route, method, with_cookies in ROUTES:
            file = cookie_file if with_cookies else None
            wrk_args = argparse.Namespace(threads=1, connections=args.connections)
            run.wrk(wrk_args, port, route, method, args.warmup, file, script)
            control(proc.pid, "-z")
            r = run.wrk(wrk_args, port, route, method, args.seconds, file, script)
            control(proc.pid, "-d")
            dump += 1
            path = f"{out_file}.{dump}"
            for _ in range(100):
                if os.path.exists(path):
                    break
                time.sleep(0.1)
            total, sha = totals(path)
            n = max(r["requests"], 1)
            results[route] = (total / n, (total - sha) / n, n)
    finally:
        proc.terminate()
        proc.wait()
        redis.stop()
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--servers", default=",".join(DEFAULT_SERVERS))
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--sessions", type=int, default=50)
    ap.add_argument("--connections", type=int, default=4)
    args = ap.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as workdir:
        for binary in args.servers.split(","):
            print(f"==> {binary}", flush=True)
            rows[binary] = measure_server(args, binary, workdir)
    print()
    print("Instructions per request (callgrind; in parentheses: outside SHA-256)")
    print()
    print("| server | " + " | ".join(f"/{r}" for r, _, _ in ROUTES) + " |")
    print("| --- |" + " --: |" * len(ROUTES))
    for binary, res in rows.items():
        cells = [f"{res[r][0]:,.0f} ({res[r][1]:,.0f})" for r, _, _ in ROUTES]
        print(f"| {binary} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
