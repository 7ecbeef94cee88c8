"""Times `ipinsights prepare` against DuckDB running the same extraction SQL on the same lake.

The SQL is what `ipinsights prepare --athena --print-sql` would send to Athena (the UNLOAD's
SELECT), run by DuckDB through training/tests/athena_duckdb.py (the test suite's stand-in for
Athena) and written as gzip CSV, as Athena's UNLOAD would. `ipinsights prepare` does the same
extraction and also shuffles, splits and writes train.csv/validation.csv and the manifest.
Both are whole processes, timed from start to exit; peak RSS is each child's own (wait4).

Usage: prepare.py IPINSIGHTS LAKE_BUCKET_DIR SINCE UNTIL [--runs N]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def run(cmd, **kw):
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode()
    proc.stderr.close()
    if status != 0:
        sys.exit(f"{cmd[0]} failed:\n{err}")
    return elapsed, usage.ru_maxrss / 1024  # MiB


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("ipinsights")
    p.add_argument("lake")
    p.add_argument("since")
    p.add_argument("until")
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    shim = os.path.join(here, "..", "training", "tests", "athena_duckdb.py")
    window = ["--since", a.since, "--until", a.until]
    sql = subprocess.run(
        [a.ipinsights, "prepare", "--athena", "--print-sql", "--database",
         "amazon_security_lake_glue_db_us_east_1", "--out", "s3://bench/out/", *window],
        check=True, capture_output=True, text=True,
    ).stdout.rstrip().rstrip(";")
    scratch = tempfile.mkdtemp(prefix="bench-prepare-")
    sql_file = os.path.join(scratch, "pairs.sql")
    with open(sql_file, "w") as f:
        f.write(sql)

    results = {"ipinsights prepare": [], "DuckDB (same SQL)": []}
    for i in range(a.runs):
        out = os.path.join(scratch, f"out-{i}")
        results["ipinsights prepare"].append(run(
            [a.ipinsights, "prepare", "--lake", a.lake, *window, "--quiet", "--out", out]))
        results["DuckDB (same SQL)"].append(run(
            [sys.executable, shim, a.lake, "amazon_security_lake_glue_db_us_east_1",
             "us_east_1", sql_file, os.path.join(scratch, f"duck-{i}.csv.gz")]))
    import json
    with open(os.path.join(scratch, "out-0", "manifest.json")) as f:
        manifest = json.load(f)
    duck_rows = sum(1 for _ in __import__("gzip").open(os.path.join(scratch, "duck-0.csv.gz"), "rt"))
    print(f"lake: {manifest['objects']} objects, {manifest['rows']:,} rows, "
          f"{manifest['bytes_read'] / 1e6:.1f} MB read; pairs: ipinsights {manifest['pairs']:,}, "
          f"DuckDB {duck_rows:,}")
    base = statistics.median(t for t, _ in results["DuckDB (same SQL)"])
    for name, runs in results.items():
        t = statistics.median(t for t, _ in runs)
        rss = max(m for _, m in runs)
        print(f"{name:22s} median {t:7.2f} s  ({base / t:5.2f}x DuckDB)  peak RSS {rss:7.1f} MiB  "
              f"runs: {', '.join(f'{x:.2f}' for x, _ in runs)}")
    shutil.rmtree(scratch)


if __name__ == "__main__":
    main()
