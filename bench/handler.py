#!/usr/bin/env python3
"""Benchmark: the ipcheck handler on one object against a local SageMaker-compatible endpoint
(`ipinsights serve`), side by side with the approach of AWS's Python sample (pandas read of the
whole object, every (instance, ip) row sent in one InvokeEndpoint request), same object, same
endpoint, same S3 (moto on loopback). Each side runs in its own process: wall time per object
(median of --runs, after one warm-up), objects/s, pairs/s and the process's peak RSS.

usage: bench/handler.py OBJECT.parquet [--runs N]   (bench/run-handler.sh sets everything up)
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

SAMPLE = r'''
import io, json, statistics, sys, time
import boto3, pandas as pd
bucket, key, runs, endpoint = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
s3 = boto3.client("s3")
rt = boto3.client("sagemaker-runtime")
times = []
for run in range(runs + 1):
    t0 = time.perf_counter()
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    df = pd.read_parquet(io.BytesIO(body))
    # The sample loops over rows copying src_endpoint's instance_uid and ip; Series.map over
    # the struct dicts does the same work faster than its loop, in the sample's favour.
    out = pd.DataFrame({"instance_id": df["src_endpoint"].map(lambda d: d["instance_uid"]),
                        "sourceip": df["src_endpoint"].map(lambda d: d["ip"])})
    out = out[out.instance_id.notna() & (out.instance_id != "-") & out.sourceip.notna() & (out.sourceip != "-")]
    # The sample sends IPv6 addresses too, which IP Insights rejects (ValidationError): one
    # filter added so that it can be measured at all.
    out = out[~out.sourceip.str.contains(":")]
    payload = out.to_csv(sep=",", header=False, index=False)
    resp = rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=payload)
    preds = json.loads(resp["Body"].read())["predictions"]
    assert len(preds) == len(out), (len(preds), len(out))
    if run:
        times.append(time.perf_counter() - t0)
times.sort()
print(json.dumps({"median_s": times[len(times) // 2], "rows_scored": len(out), "request_bytes": len(payload)}))
'''


def start(cmd, pattern, env=None):
    log = tempfile.NamedTemporaryFile(delete=False)
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, env=env)
    for _ in range(300):
        text = open(log.name).read()
        m = re.search(pattern, text)
        if m:
            return p, m.group(1)
        if p.poll() is not None:
            sys.exit(f"{cmd[0]} exited: {text}")
        time.sleep(0.1)
    sys.exit(f"{cmd[0]} did not start: {open(log.name).read()}")


def timed(cmd, env):
    rss = tempfile.NamedTemporaryFile(delete=False).name
    out = subprocess.check_output(["/usr/bin/time", "-f", "%M", "-o", rss] + cmd, env=env)
    return json.loads(out.decode().strip().splitlines()[-1]), int(open(rss).read().split()[-1]) / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("object")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--bin", default="target/release/ipinsights")
    ap.add_argument("--handler", default="target/release/examples/bench_handler")
    a = ap.parse_args()
    venv_bin = os.path.dirname(sys.executable)
    work = tempfile.mkdtemp(prefix="bench-handler-")

    # A model of the object's own pairs (its quality does not matter here; its size does:
    # vector_dim 128 as SageMaker recommends).
    done = subprocess.run([a.bin, "pairs", a.object, "--source", "VPC_FLOW"], capture_output=True, check=True)
    pairs = done.stdout
    rows = int(re.search(r"rows (\d+)", done.stderr.decode()).group(1))
    train = os.path.join(work, "train.csv")
    with open(train, "w") as f:
        for line in pairs.decode().splitlines():
            e, ip, _ = line.split(",")
            f.write(f"{e},{ip}\n")
    entities = len({l.split(",")[0] for l in open(train)})
    model = os.path.join(work, "model.safetensors")
    subprocess.check_call([a.bin, "fit", "--train", train, "--out", model, "--num_entity_vectors", str(2 * entities),
                           "--vector_dim", "128", "--epochs", "2", "--quiet"])

    moto, moto_port = start([os.path.join(venv_bin, "moto_server"), "-H", "127.0.0.1", "-p", "0"],
                            r"Running on http://127\.0\.0\.1:(\d+)")
    # The sample sends every row in one request, far over SageMaker's 6 MiB: a real endpoint
    # refuses it (ValidationError / 413). The local server accepts it so its cost can be measured.
    serve, serve_addr = start([a.bin, "serve", "--model", model, "--port", "0", "--max-body-bytes", str(1 << 30)],
                              r"(127\.0\.0\.1:\d+)")
    try:
        env = dict(os.environ, AWS_ENDPOINT_URL=f"http://127.0.0.1:{moto_port}",
                   AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=f"http://{serve_addr}",
                   AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1",
                   AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
        bucket = "bench-lake"
        key = "aws/VPC_FLOW/1.0/region=us-east-1/accountId=111122223333/eventDay=20260105/bench.zstd.parquet"
        subprocess.check_call([sys.executable, "-c",
            "import boto3,sys; s3=boto3.client('s3'); s3.create_bucket(Bucket=sys.argv[1]);"
            "s3.upload_file(sys.argv[3], sys.argv[1], sys.argv[2])", bucket, key, a.object], env=env)

        ours, ours_rss = timed([a.handler, bucket, key, str(a.runs + 1)], env)
        # The cost of the sinks: every pair an anomaly, the cap (MAX_ANOMALIES_PER_OBJECT, 200)
        # sent to Security Hub and EventBridge (moto), against the same run without sinks.
        capped = dict(env, ANOMALY_THRESHOLD="1e9")
        no_sink, _ = timed([a.handler, bucket, key, str(a.runs + 1)], capped)
        sink, sink_rss = timed([a.handler, bucket, key, str(a.runs + 1)], dict(capped, BENCH_SINKS="1"))
        sample, sample_rss = timed([sys.executable, "-c", SAMPLE, bucket, key, str(a.runs), "bench"], env)
    finally:
        serve.terminate()
        moto.terminate()

    size = os.path.getsize(a.object)
    print(f"\nobject {a.object}: {size} bytes, {os.cpu_count()} cores; S3: moto on loopback; endpoint: ipinsights serve "
          f"(vector_dim 128); medians of {a.runs} runs after a warm-up\n")
    print(f"{'approach':30s} {'s/object':>9s} {'objects/s':>10s} {'rows/s':>12s} {'pairs sent':>11s} {'pairs sent/s':>13s} {'peak RSS MiB':>13s}")
    print(f"{'ipcheck handler (Rust)':30s} {ours['median_s']:9.3f} {ours['objects_per_s']:10.2f} {rows / ours['median_s']:12.0f} "
          f"{ours['distinct_pairs']:11d} {ours['pairs_per_s']:13.0f} {ours_rss:13.1f}")
    print(f"{'AWS sample approach (pandas)':30s} {sample['median_s']:9.3f} {1 / sample['median_s']:10.2f} {rows / sample['median_s']:12.0f} "
          f"{sample['rows_scored']:11d} {sample['rows_scored'] / sample['median_s']:13.0f} {sample_rss:13.1f}")
    print(f"\nsinks, {sink['findings_sent']} findings and {sink['events_sent']} events per object "
          f"(every pair an anomaly, capped at 200; Security Hub and EventBridge from moto on loopback):")
    print(f"  without sinks {no_sink['median_s']:.3f} s/object, with sinks {sink['median_s']:.3f} s/object "
          f"(+{(sink['median_s'] - no_sink['median_s']) * 1000:.0f} ms, {sink['median_s'] / no_sink['median_s']:.2f}x), "
          f"peak RSS {sink_rss:.1f} MiB, sink failures {sink['sink_failures']}")
    print(f"\nspeed-up per object: {sample['median_s'] / ours['median_s']:.1f}x; the sample's single request was "
          f"{sample['request_bytes'] / 2**20:.1f} MiB (SageMaker's limit: 6 MiB), ipcheck's pairs fit in "
          f"{max(1, -(-ours['distinct_pairs'] * 36 // (4 << 20)))} request(s) of at most 4 MiB.")


if __name__ == "__main__":
    main()
