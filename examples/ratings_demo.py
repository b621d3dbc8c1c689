"""Run examples/ratings.asl.json end to end with no AWS account: S3 comes from a moto server started here. The
Distributed Map reads a CSV of 25 ratings, gives each child a batch of 10 rows, and writes what the children found
back to S3 with ResultWriter; this script prints the state's output, the manifest and the results file. Needs moto's
server (``pip install -e '.[examples]'``).

    python examples/ratings_demo.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from moto_endpoint import moto_endpoint  # noqa: E402


def main() -> int:
    import boto3

    with moto_endpoint() as endpoint:
        s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint)
        s3.create_bucket(Bucket="ratings")
        rows = "".join(f"movie-{i},{min(5, 1 + i // 5)}\n" for i in range(25))
        s3.put_object(Bucket="ratings", Key="input/ratings.csv", Body=f"movie,rating\n{rows}".encode())
        print("$ asl run ratings.asl.json --aws-endpoint ...", flush=True)
        out = subprocess.run([sys.executable, "-c", "from asl.cli import main; main()", "run", str(HERE / "ratings.asl.json"),
                              "--aws-endpoint", endpoint,
                              "--input", json.dumps({"bucket": "ratings", "key": "input/ratings.csv", "scale": 5})],
                             capture_output=True, text=True, check=False)
        print(out.stdout.strip() or out.stderr.strip())
        if out.returncode != 0:
            return out.returncode
        details = json.loads(out.stdout)["ResultWriterDetails"]
        manifest = json.loads(s3.get_object(Bucket=details["Bucket"], Key=details["Key"])["Body"].read())
        print("manifest.json:", json.dumps(manifest))
        for f in manifest["ResultFiles"]["SUCCEEDED"]:
            print(f"{f['Key'].rpartition('/')[2]}:", s3.get_object(Bucket=details["Bucket"], Key=f["Key"])["Body"].read().decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
