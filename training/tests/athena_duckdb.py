r"""Runs the CLI's Athena SQL in DuckDB over a local (simulated) lake, standing in for Athena.

moto accepts Athena queries but never runs them, so the tests run the exact text the CLI sent
here instead. Each Glue table becomes a view over its lake folder, with the partition columns
from the path (`region`, `accountid`, `eventday`, all strings as in Glue) and `"$path"`.
Differences from Trino are bridged by renames only:

- `regexp_like(s, p)` -> `regexp_matches(s, p)` (same partial-match meaning),
- `date_format(ts, f)` -> `strftime(ts, f)` (same `%Y%m%d` codes),
- `transform(` -> `list_transform(`, with DuckDB's single-arrow lambdas switched on.

Usage: athena_duckdb.py LAKE_BUCKET_DIR DATABASE REGION_SUFFIX SQL_FILE OUT_CSV
An UNLOAD statement is run as its inner SELECT; OUT_CSV gets headerless rows (gzip when the
name ends in .gz, as Athena's UNLOAD writes them); a SELECT gets a header row first. NULL is
written as \N.
"""

import csv
import gzip
import io
import os
import re
import sys

import duckdb


def main() -> None:
    lake, database, region, sql_file, out = sys.argv[1:6]
    with open(sql_file, encoding="utf-8") as f:
        sql = f.read()
    unload = re.fullmatch(r"UNLOAD \(\n(.*)\n\) TO '.*' WITH \(.*\)", sql, re.S)
    if unload:
        sql = unload.group(1)
    sql = re.sub(r"\btransform\(", "list_transform(", sql)

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET lambda_syntax = 'ENABLE_SINGLE_ARROW'")
    con.execute("CREATE MACRO regexp_like(s, p) AS regexp_matches(s, p)")
    con.execute("CREATE MACRO date_format(ts, f) AS strftime(ts, f)")
    con.execute(f'CREATE SCHEMA "{database}"')
    aws = os.path.join(lake, "aws")
    for source in sorted(os.listdir(aws)):
        for version in sorted(os.listdir(os.path.join(aws, source))):
            folder = os.path.join(aws, source, version)
            table = f"amazon_security_lake_table_{region}_{source.lower()}_{version.replace('.', '_')}"
            con.execute(
                f'CREATE VIEW "{database}"."{table}" AS '
                f'SELECT * EXCLUDE (filename), filename AS "$path" '
                f"FROM read_parquet('{folder}/**/*.parquet', hive_partitioning = true, "
                f"hive_types_autocast = false, filename = true, union_by_name = true)"
            )
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if not unload:
        writer.writerow(names)
    # NULL as \N (Hive's text convention), so that it differs from an empty string.
    for row in rows:
        writer.writerow(["\\N" if v is None else v for v in row])
    data = buf.getvalue().encode("utf-8")
    if out.endswith(".gz"):
        data = gzip.compress(data)
    with open(out, "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main()
