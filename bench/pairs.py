#!/usr/bin/env python3
"""Benchmark: the distinct pairs of one OCSF parquet object, `ipinsights` against pyarrow and
DuckDB, in the same run. `--pairing src` (instance with its own source address; pyarrow and
DuckDB) or `--pairing initiator` (the default: who opened each connection, from TCP flags,
ports and direction, with the initiator's subnet as its group; DuckDB runs the same rules in
SQL, pyarrow is left out).

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
elif method == "duckdb-initiator":
    import duckdb
    SERVICE = "1433, 1521, 2049, 2181, 2375, 2376, 2379, 3000, 3306, 3389, 4222, 5000, 5044, 5432, 5439, 5601, 5671, 5672, 5900, 5985, 5986, 6379, 6443, 7000, 7001, 8000, 8080, 8088, 8443, 8888, 9000, 9042, 9090, 9092, 9093, 9200, 9300, 9418, 10250, 11211, 15672, 27017"
    rank = lambda p: f"CASE WHEN {p} < 1024 OR {p} IN ({SERVICE}) THEN 0 WHEN {p} < 32768 THEN 1 ELSE 2 END"
    sp, dp = "src_endpoint.port", "dst_endpoint.port"
    ports = f"(connection_info.protocol_num IN (6, 17, 132) OR connection_info.protocol_num IS NULL) AND {sp} BETWEEN 1 AND 65535 AND {dp} BETWEEN 1 AND 65535"
    side = f"""CASE
      WHEN connection_info.tcp_flags IS NOT NULL AND (connection_info.protocol_num = 6 OR connection_info.protocol_num IS NULL) AND (connection_info.tcp_flags & 2) <> 0
        THEN CASE WHEN (connection_info.tcp_flags & 16) <> 0 THEN 2 ELSE 1 END
      WHEN {ports} AND {rank(dp)} < {rank(sp)} THEN 1
      WHEN {ports} AND {rank(sp)} < {rank(dp)} THEN 2
      WHEN connection_info.direction_id IN (1, 2) THEN 1 END"""
    def run():
        return duckdb.connect().execute(f"""
            SELECT DISTINCT entity, ip, any_value(grp) FROM (
              SELECT CASE side WHEN 1 THEN su WHEN 2 THEN du END AS entity,
                     CASE side WHEN 1 THEN sg WHEN 2 THEN dg END AS grp,
                     CASE side WHEN 1 THEN di WHEN 2 THEN si END AS ip
              FROM (SELECT src_endpoint.instance_uid AS su, dst_endpoint.instance_uid AS du,
                           src_endpoint.subnet_uid AS sg, dst_endpoint.subnet_uid AS dg,
                           src_endpoint.ip AS si, dst_endpoint.ip AS di, {side} AS side
                    FROM read_parquet('{path}')))
            WHERE entity IS NOT NULL AND entity <> '-' AND ip IS NOT NULL AND ip <> '-'
            GROUP BY entity, ip""").fetchall()
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
                  "pairs": [list(r) for r in res]}))
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
    ap.add_argument("--pairing", default="initiator", choices=["initiator", "src"])
    a = ap.parse_args()
    pairing = ["--pairing", a.pairing]
    others = ["duckdb-initiator"] if a.pairing == "initiator" else ["pyarrow-1thread", "pyarrow", "duckdb"]
    duck = others[-1]
    py = sys.executable
    rows = None

    # In process first (it also gives each tool's pairs for the agreement check).
    inproc, sets = {}, {}
    for threads, name in [(None, "ipinsights"), (1, "ipinsights-1thread")]:
        cmd = [a.bin, "bench-pairs", a.file, "--runs", str(a.runs)] + pairing
        if threads:
            cmd += ["--threads", str(threads)]
        r = json.loads(subprocess.check_output(cmd))
        rows = r["rows"]
        inproc[name] = r["median_ms"]
    csv = subprocess.check_output([a.bin, "pairs", a.file, "--source", "VPC_FLOW"] + pairing, stderr=subprocess.DEVNULL)
    sets["ipinsights"] = {tuple(l.split(",")[:2]) for l in csv.decode().splitlines()}
    for method in others:
        r = json.loads(subprocess.check_output([py, "-c", PY_IMPL, method, a.file, str(a.runs + 1)]))
        inproc[method] = r["median_ms"]
        sets[method] = ipv4_pairs(tuple(p[:2]) for p in r["pairs"])
    ref = sets[duck]
    for name, s in sets.items():
        status = "same pairs" if s == ref else f"DIFFERENT ({len(s)} vs {len(ref)})"
        print(f"# {name:20s} {len(s)} distinct IPv4 pairs, sha {digest(s)}: {status}")
        if s != ref:
            sys.exit(1)

    # Whole process.
    whole = {}
    whole["ipinsights"] = whole_process([a.bin, "pairs", a.file, "--source", "VPC_FLOW"] + pairing, a.runs)
    whole["ipinsights-1thread"] = whole_process(
        [a.bin, "pairs", a.file, "--source", "VPC_FLOW", "--threads", "1"] + pairing, a.runs)
    for method in others:
        whole[method] = whole_process([py, "-c", PY_IMPL, method, a.file, "1"], a.runs)

    size = os.path.getsize(a.file)
    print(f"\nfile {a.file}: {rows} rows, {size} bytes, {os.cpu_count()} cores, {a.runs} runs, medians\n")
    duck_w, duck_i = whole[duck][0], inproc[duck]
    print(f"{'tool':22s} {'whole ms':>9s} {'rows/s':>12s} {'x DuckDB':>9s} {'peak RSS MiB':>13s}   {'in-process ms':>13s} {'x DuckDB':>9s}")
    for name in ["ipinsights", "ipinsights-1thread"] + others[::-1]:
        w, rss, _ = whole[name]
        i = inproc[name]
        print(f"{name:22s} {w:9.1f} {rows / (w / 1e3):12.0f} {duck_w / w:9.2f} {rss:13.1f}   {i:13.1f} {duck_i / i:9.2f}")
    print("\n(x DuckDB > 1 means faster than DuckDB in this run.)")


if __name__ == "__main__":
    main()
