#!/usr/bin/env python3
"""Runs the side-by-side benchmark and writes bench/RESULTS.md.

Called by ./scripts/bench after it has installed wrk and redis-server and
built the servers (bench/target/release). One redis-server on a free
loopback port serves every server in turn. Each round runs every server
(the order rotates from round to round so that no server always goes first),
and in each server's turn:

1. FLUSHALL, start the server, create SESSIONS sessions through GET /seed and
   keep their cookies;
2. for /read, /write and /incr: warm up, then CONFIG RESETSTAT and run wrk
   (each request carries the next cookie in turn), reading the server's and
   Redis's CPU time from /proc and INFO before and after, and the commands
   Redis ran from INFO commandstats (commands inside scripts included);
3. /seed without a cookie (anonymous creates), with used_memory before and
   after: bytes per session is the growth over the sessions created;
4. stop the server.

The table holds the median of the rounds for every figure.
"""

import argparse
import datetime
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import http.client

HERE = os.path.dirname(os.path.abspath(__file__))
RELEASE = os.path.join(HERE, "target", "release")

# (binary, label, framework, what it is)
SERVERS = [
    ("ours-axum", "this project (axum)", "axum 0.8"),
    ("ours-actix", "this project (actix-web)", "actix-web 4"),
    ("tower-sessions", "tower-sessions 0.14 + redis-store 0.16", "axum 0.8"),
    ("actix-session", "actix-session 0.11", "actix-web 4"),
    ("raw-floor", "raw GET floor (redis-rs, no sessions)", "axum 0.8"),
    ("bare-ceiling", "bare HTTP ceiling (no Redis)", "axum 0.8"),
]
PEERS = ["tower-sessions", "actix-session"]
ROUTES = [("read", "GET"), ("write", "POST"), ("incr", "POST")]

WRK_SCRIPT = r"""
local cookies = {}
local path = os.getenv("BENCH_COOKIES")
if path and path ~= "" then
  for line in io.lines(path) do cookies[#cookies + 1] = line end
end
wrk.method = os.getenv("BENCH_METHOD") or "GET"
local i = 0
request = function()
  if #cookies == 0 then return wrk.format() end
  i = i + 1
  return wrk.format(nil, nil, { ["Cookie"] = cookies[(i % #cookies) + 1] })
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %d\n", summary.requests,
    summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{what} exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{what} did not listen on {port} within {timeout}s")


class Redis:
    """A redis-server of our own, talked to with redis-cli."""

    def __init__(self, workdir):
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", workdir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, self.proc, "redis-server")
        self.url = f"redis://127.0.0.1:{self.port}/"

    def cli(self, *args):
        out = subprocess.run(["redis-cli", "-p", str(self.port), *args],
                             check=True, capture_output=True, text=True)
        return out.stdout

    def info(self, section):
        fields = {}
        for line in self.cli("INFO", section).splitlines():
            if ":" in line and not line.startswith("#"):
                k, v = line.split(":", 1)
                fields[k] = v.strip()
        return fields

    def cpu_seconds(self):
        f = self.info("cpu")
        return float(f["used_cpu_sys"]) + float(f["used_cpu_user"])

    def commands(self):
        total = 0
        for k, v in self.info("commandstats").items():
            name = k[len("cmdstat_"):]
            if name in ("info", "config", "ping", "client", "hello", "select"):
                continue
            calls = dict(p.split("=") for p in v.split(","))["calls"]
            total += int(calls)
        return total

    def used_memory(self):
        return int(self.info("memory")["used_memory"])

    def version(self):
        return self.info("server")["redis_version"]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat; fields[0] is field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def seed(port, count, needs_cookie):
    cookies = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(count):
        conn.request("GET", "/seed")
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            sys.exit(f"/seed answered {resp.status}")
        set_cookie = resp.getheader("Set-Cookie")
        if not set_cookie:
            if needs_cookie:
                sys.exit("/seed set no cookie")
            set_cookie = "id=none"
        cookies.append(set_cookie.split(";", 1)[0])
    conn.close()
    return cookies


def wrk(args, port, route, method, seconds, cookie_file, script):
    env = dict(os.environ, BENCH_METHOD=method, BENCH_COOKIES=cookie_file or "")
    out = subprocess.run(
        ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds}s",
         "-s", script, f"http://127.0.0.1:{port}/{route}"],
        env=env, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith("BENCH "):
            n, dur_us, p50, p99, errors = map(int, line.split()[1:])
            return {"requests": n, "seconds": dur_us / 1e6, "p50_us": p50,
                    "p99_us": p99, "errors": errors}
    sys.exit(f"wrk printed no summary:\n{out}")


def measure(args, redis, proc, port, route, method, seconds, cookie_file, script):
    redis.cli("CONFIG", "RESETSTAT")
    server0, redis0, mem0 = proc_cpu_seconds(proc.pid), redis.cpu_seconds(), redis.used_memory()
    r = wrk(args, port, route, method, seconds, cookie_file, script)
    server1, redis1, mem1 = proc_cpu_seconds(proc.pid), redis.cpu_seconds(), redis.used_memory()
    n = max(r["requests"], 1)
    r["rps"] = r["requests"] / r["seconds"]
    r["server_us"] = (server1 - server0) * 1e6 / n
    r["redis_us"] = (redis1 - redis0) * 1e6 / n
    r["commands"] = redis.commands() / n
    r["bytes"] = (mem1 - mem0) / n
    return r


def run_server(args, redis, binary, script, workdir):
    redis.cli("FLUSHALL")
    port = free_port()
    proc = subprocess.Popen([os.path.join(RELEASE, binary), str(port), redis.url],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    results = {}
    try:
        wait_for_port(port, proc, binary)
        cookies = seed(port, args.sessions, binary != "bare-ceiling")
        cookie_file = os.path.join(workdir, f"{binary}.cookies")
        with open(cookie_file, "w") as f:
            f.write("\n".join(cookies) + "\n")
        for route, method in ROUTES:
            wrk(args, port, route, method, args.warmup, cookie_file, script)
            results[route] = measure(args, redis, proc, port, route, method,
                                     args.seconds, cookie_file, script)
        # Anonymous creates last: they fill Redis with sessions.
        results["seed"] = measure(args, redis, proc, port, "seed", "GET",
                                  args.create_seconds, None, script)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for route, r in results.items():
        if r["errors"]:
            err = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
            sys.exit(f"{binary} /{route}: {r['errors']} failed requests\n{err}")
    return results


def median(rounds, route, key):
    return statistics.median(r[route][key] for r in rounds)


def spread(rounds, route):
    values = [r[route]["rps"] for r in rounds]
    m = statistics.median(values)
    return (max(values) - min(values)) / m if m else 0.0


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def write_results(args, redis_version, all_rounds, path):
    present = [s for s in SERVERS if s[0] in all_rounds]
    ms = lambda us: f"{us / 1000:.2f}"
    lines = []
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines.append("# Benchmark results\n")
    lines.append(f"Written by `./scripts/bench` on {when}. Machine: {os.cpu_count()} cores "
                 f"({cpu_model()}), shared by wrk, the server and redis-server {redis_version}. "
                 f"wrk `-t{args.threads} -c{args.connections} -d{args.seconds}s` per route after "
                 f"{args.warmup}s of warm-up, {args.sessions} sessions each holding one integer; "
                 f"{args.rounds} interleaved rounds, medians. Anonymous creates: "
                 f"{args.create_seconds}s of `GET /seed` without a cookie.\n")
    lines.append("| server | /read req/s | /read p50 / p99 ms | /write req/s | /write p50 / p99 ms "
                 "| /incr req/s | create req/s | server CPU µs/read | Redis CPU µs/read "
                 "| Redis cmds read / write / incr / create | bytes per session |")
    lines.append("| --- | --: | --: | --: | --: | --: | --: | --: | --: | --- | --: |")
    for binary, label, framework in present:
        rounds = all_rounds[binary]
        m = lambda route, key: median(rounds, route, key)
        no_redis = binary == "bare-ceiling"
        cmds = "" if no_redis else " / ".join(
            f"{m(route, 'commands'):.2f}".rstrip("0").rstrip(".") for route in
            ("read", "write", "incr", "seed"))
        redis_us = "" if no_redis else f"{m('read', 'redis_us'):.1f}"
        size = "" if no_redis else f"{m('seed', 'bytes'):.0f}"
        lines.append(
            f"| {label} [{framework}] | {m('read', 'rps'):,.0f} | {ms(m('read', 'p50_us'))} / "
            f"{ms(m('read', 'p99_us'))} | {m('write', 'rps'):,.0f} | {ms(m('write', 'p50_us'))} / "
            f"{ms(m('write', 'p99_us'))} | {m('incr', 'rps'):,.0f} | {m('seed', 'rps'):,.0f} | "
            f"{m('read', 'server_us'):.1f} | {redis_us} | {cmds} | {size} |")
    lines.append("")
    lines.append("Peers have no atomic increment: their `/incr` is their `/write`.\n")

    peers = [p for p in PEERS if p in all_rounds]
    ours = [b for b in ("ours-axum", "ours-actix") if b in all_rounds]
    if peers and ours:
        lines.append("## Against the goals (SEMANTICS.md budgets; issue 22)\n")
        # Each of ours against its framework's usual session library.
        peer_of = {"ours-axum": "tower-sessions", "ours-actix": "actix-session"}
        for o in ours:
            r = all_rounds[o]
            p = peer_of[o]
            if p not in all_rounds:
                continue
            pr = all_rounds[p]
            for route, against, goal in (("read", "read", 1.1), ("write", "write", 1.1),
                                         ("incr", "write", 1.5)):
                ratio = median(r, route, "rps") / median(pr, against, "rps")
                verdict = "met" if ratio >= goal else "NOT met"
                lines.append(f"- {o} /{route}: {ratio:.2f}x {p} /{against} "
                             f"(goal {goal}x): {verdict}")
            for route in ("read", "write"):
                mine, theirs = median(r, route, "p99_us"), median(pr, route, "p99_us")
                lines.append(f"- {o} /{route} p99: {ms(mine)} ms against {p}'s {ms(theirs)} ms "
                             f"(goal: no worse): {'met' if mine <= theirs else 'NOT met'}")
            tower = all_rounds.get("tower-sessions")
            if tower:
                mem = median(r, "seed", "bytes") / median(tower, "seed", "bytes")
                lines.append(f"- {o} bytes per session: {mem:.2f}x tower-sessions' (goal <= 1.1x): "
                             f"{'met' if mem <= 1.1 else 'NOT met'}")
            floor = all_rounds.get("raw-floor")
            if floor:
                lines.append(f"- {o} /read: {median(r, 'read', 'rps') / median(floor, 'read', 'rps'):.2f}x "
                             f"the raw floor (aim 0.9x)")
        lines.append("")

    lines.append("## Noise\n")
    worst = max((spread(all_rounds[b], route), b, route) for b, _, _ in present
                for route in ("read", "write", "incr"))
    lines.append(f"Across the {args.rounds} rounds, req/s of one server on one route varied by up to "
                 f"{worst[0] * 100:.0f}% of its median ({worst[1]} /{worst[2]}); treat differences "
                 f"smaller than that as noise.\n")
    lines.append("## Per round (req/s read / write / incr)\n")
    for binary, label, _ in present:
        per = ", ".join(f"{r['read']['rps']:,.0f} / {r['write']['rps']:,.0f} / {r['incr']['rps']:,.0f}"
                        for r in all_rounds[binary])
        lines.append(f"- {binary}: {per}")
    lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--create-seconds", type=int, default=3)
    ap.add_argument("--sessions", type=int, default=200)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--servers", default=",".join(s[0] for s in SERVERS),
                    help="comma-separated subset of: " + ", ".join(s[0] for s in SERVERS))
    ap.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    args = ap.parse_args()
    chosen = [s for s in args.servers.split(",") if s]
    unknown = set(chosen) - {s[0] for s in SERVERS}
    if unknown:
        sys.exit(f"unknown servers: {', '.join(sorted(unknown))}")

    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        script = os.path.join(workdir, "rotate-cookies.lua")
        with open(script, "w") as f:
            f.write(WRK_SCRIPT)
        redis = Redis(workdir)
        try:
            version = redis.version()
            all_rounds = {b: [] for b in chosen}
            for round_no in range(args.rounds):
                order = chosen[round_no % len(chosen):] + chosen[:round_no % len(chosen)]
                for binary in order:
                    print(f"round {round_no + 1}/{args.rounds}: {binary}", file=sys.stderr, flush=True)
                    all_rounds[binary].append(run_server(args, redis, binary, script, workdir))
        finally:
            redis.stop()
    print(write_results(args, version, all_rounds, args.out))
    print(f"\nwritten to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
