#!/usr/bin/env python3
"""Benchmark: distinct (src_endpoint.instance_uid, src_endpoint.ip) pairs of one OCSF parquet
object, `ipinsights` against pyarrow and DuckDB, in the same run.

Two tables:
  whole process  - each tool started as its own process per run (what a Lambda invocation or
                   a CLI call pays): wall time and peak RSS (wait4), medians over --runs;
  in process     - the extraction alone, repeated inside one warm process, median.

Every tool must find the same distinct pairs (checked, outside the timings).

usage: bench/pairs.py FILE [--runs N] [--bin target/release/ipinsights]
(bench/run-pairs.sh builds the binary, makes the venv and writes the 1M-row object first.)
"""
import argparse
import hashlib
import ipaddress
import json
import os
import statistics
import subprocess
import sys
import time

PY_IMPL = r'''
import sys, time, json, hashlib
method, path, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
if method.startswith("pyarrow"):
    import pyarrow as pa, pyarrow.compute as pc, pyarrow.parquet as pq
    if method == "pyarrow-1thread":
        pa.set_cpu_count(1); pa.set_io_thread_count(1)
    def run():
        t = pq.ParquetFile(path).read(columns=["src_endpoint.instance_uid", "src_endpoint.ip"],
                                       use_threads=(method != "pyarrow-1thread"))
        s = t.column("src_endpoint").combine_chunks()
        iid, ip = s.field("instance_uid"), s.field("ip")
        m = pc.and_(pc.and_(pc.is_valid(iid), pc.not_equal(iid, "-")),
                    pc.and_(pc.is_valid(ip), pc.not_equal(ip, "-")))
        out = pa.table({"iid": iid.filter(m), "ip": ip.filter(m)}).group_by(["iid", "ip"]).aggregate([])
        return list(zip(out.column("iid").to_pylist(), out.column("ip").to_pylist()))
elif method == "duckdb":
    import duckdb
    def run():
        return duckdb.connect().execute(f"""
            SELECT DISTINCT src_endpoint.instance_uid, src_endpoint.ip FROM read_parquet('{path}')
            WHERE src_endpoint.instance_uid IS NOT NULL AND src_endpoint.instance_uid <> '-'
              AND src_endpoint.ip IS NOT NULL AND src_endpoint.ip <> '-'""").fetchall()
times = []
res = None
for _ in range(runs):
    t0 = time.perf_counter(); res = run(); times.append(time.perf_counter() - t0)
if runs > 1:
    times = times[1:]  # the first run warms caches and imports lazily loaded code
times.sort()
print(json.dumps({"median_ms": times[len(times)//2]*1e3, "min_ms": times[0]*1e3,
                  "pairs": [[a, b] for a, b in res]}))
'''


def ipv4_pairs(pairs):
    """The pairs an IP Insights scorer keeps: IPv4 only, normalised (as ipinsights does)."""
    out = set()
    for entity, ip in pairs:
        entity = entity.strip()
        if not entity or entity == "-":
            continue
        text = ip.strip()
        try:
            parts = text.split(".")
            if len(parts) == 4 and all(p.isdigit() and 1 <= len(p) <= 3 for p in parts):
                addr = ".".join(str(int(p)) for p in parts)
                ipaddress.IPv4Address(addr)
                out.add((entity, addr))
                continue
            v6 = ipaddress.IPv6Address(text.strip("[]"))
            if v6.ipv4_mapped:
                out.add((entity, str(v6.ipv4_mapped)))
        except ValueError:
            pass
    return out


def digest(pairs):
    return hashlib.sha256("\n".join(f"{a},{b}" for a, b in sorted(pairs)).encode()).hexdigest()[:16]


TIME = "/usr/bin/time"


def whole_process(cmd, runs):
    """Median wall time and peak RSS of `cmd` run as its own process. Peak RSS comes from
    GNU time (wait4 on a child forked from this Python process would count Python's own pages
    until exec); without it, from wait4."""
    walls, rss, out = [], [], None
    for _ in range(runs):
        rss_file = None
        full = cmd
        if os.path.exists(TIME):
            rss_file = f"/tmp/bench-pairs-rss-{os.getpid()}"
            full = [TIME, "-f", "%M", "-o", rss_file] + cmd
        t0 = time.perf_counter()
        p = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        data = p.stdout.read()
        _, status, usage = os.wait4(p.pid, 0)
        walls.append(time.perf_counter() - t0)
        if status != 0:
            sys.exit(f"{cmd[0]} failed with status {status}")
        if rss_file:
            with open(rss_file) as f:
                rss.append(int(f.read().split()[-1]) / 1024)
            os.unlink(rss_file)
        else:
            rss.append(usage.ru_maxrss / 1024)
        out = data
    return statistics.median(walls) * 1e3, max(rss), out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--bin", default="target/release/ipinsights")
    a = ap.parse_args()
    py = sys.executable
    rows = None

    # In process first (it also gives each tool's pairs for the agreement check).
    inproc, sets = {}, {}
    for threads, name in [(None, "ipinsights"), (1, "ipinsights-1thread")]:
        cmd = [a.bin, "bench-pairs", a.file, "--runs", str(a.runs)]
        if threads:
            cmd += ["--threads", str(threads)]
        r = json.loads(subprocess.check_output(cmd))
        rows = r["rows"]
        inproc[name] = r["median_ms"]
    csv = subprocess.check_output([a.bin, "pairs", a.file, "--source", "VPC_FLOW"], stderr=subprocess.DEVNULL)
    sets["ipinsights"] = {tuple(l.split(",")[:2]) for l in csv.decode().splitlines()}
    for method in ["pyarrow-1thread", "pyarrow", "duckdb"]:
        r = json.loads(subprocess.check_output([py, "-c", PY_IMPL, method, a.file, str(a.runs + 1)]))
        inproc[method] = r["median_ms"]
        sets[method] = ipv4_pairs(tuple(p) for p in r["pairs"])
    ref = sets["duckdb"]
    for name, s in sets.items():
        status = "same pairs" if s == ref else f"DIFFERENT ({len(s)} vs {len(ref)})"
        print(f"# {name:20s} {len(s)} distinct IPv4 pairs, sha {digest(s)}: {status}")
        if s != ref:
            sys.exit(1)

    # Whole process.
    whole = {}
    whole["ipinsights"] = whole_process([a.bin, "pairs", a.file, "--source", "VPC_FLOW"], a.runs)
    whole["ipinsights-1thread"] = whole_process(
        [a.bin, "pairs", a.file, "--source", "VPC_FLOW", "--threads", "1"], a.runs)
    for method in ["pyarrow-1thread", "pyarrow", "duckdb"]:
        whole[method] = whole_process([py, "-c", PY_IMPL, method, a.file, "1"], a.runs)

    size = os.path.getsize(a.file)
    print(f"\nfile {a.file}: {rows} rows, {size} bytes, {os.cpu_count()} cores, {a.runs} runs, medians\n")
    duck_w, duck_i = whole["duckdb"][0], inproc["duckdb"]
    print(f"{'tool':22s} {'whole ms':>9s} {'rows/s':>12s} {'x DuckDB':>9s} {'peak RSS MiB':>13s}   {'in-process ms':>13s} {'x DuckDB':>9s}")
    for name in ["ipinsights", "ipinsights-1thread", "duckdb", "pyarrow", "pyarrow-1thread"]:
        w, rss, _ = whole[name]
        i = inproc[name]
        print(f"{name:22s} {w:9.1f} {rows / (w / 1e3):12.0f} {duck_w / w:9.2f} {rss:13.1f}   {i:13.1f} {duck_i / i:9.2f}")
    print("\n(x DuckDB > 1 means faster than DuckDB in this run.)")


if __name__ == "__main__":
    main()
