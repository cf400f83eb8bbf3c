"""An S3-compatible server (moto) on 127.0.0.1 for OceanQL's object storage tests.

usage: s3_server.py SPEC_JSON

SPEC_JSON: {"buckets": {"name": [[local_path, key_prefix], ...], ...}}. Every file
under each local path (a file or a directory) is uploaded to the bucket under the
key prefix, keeping its relative path.

Then an IAM user with full access and an access key are created, and
authentication is turned on: from then on every request must be signed with
that key (a wrong key is refused with 403, as S3 does). One JSON line is
printed: {"endpoint", "access_key_id", "secret_access_key", "sizes": {bucket:
{key: size}}}; the server runs until standard input is closed (the test process
holds the pipe, so the server stops when the tests end, however they end).
"""

import json
import logging
import os
import socket
import sys
import urllib.request

import boto3
from moto.server import ThreadedMotoServer


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    spec = json.loads(sys.argv[1])
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    kw = dict(endpoint_url=endpoint, region_name="us-east-1",
              aws_access_key_id="setup", aws_secret_access_key="setup")
    iam = boto3.client("iam", **kw)
    iam.create_user(UserName="oceanql")
    policy = {"Version": "2012-10-17",
              "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_user_policy(UserName="oceanql", PolicyName="all", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="oceanql")["AccessKey"]
    s3 = boto3.client("s3", **kw)
    sizes = {}
    for bucket, uploads in spec["buckets"].items():
        s3.create_bucket(Bucket=bucket)
        sizes[bucket] = {}
        for local, prefix in uploads:
            if os.path.isfile(local):
                files = [(local, os.path.basename(local))]
            else:
                files = []
                for root, _, names in os.walk(local):
                    for n in names:
                        path = os.path.join(root, n)
                        files.append((path, os.path.relpath(path, local)))
            for path, rel in sorted(files):
                k = prefix.rstrip("/") + "/" + rel.replace(os.sep, "/") if prefix else rel
                s3.upload_file(path, bucket, k)
                sizes[bucket][k] = os.path.getsize(path)
    # From now on, requests must be signed by a known access key.
    request = urllib.request.Request(f"{endpoint}/moto-api/reset-auth", data=b"0", method="POST",
                                     headers={"Content-Type": "text/plain"})
    urllib.request.urlopen(request).read()
    print(json.dumps({"endpoint": endpoint, "access_key_id": key["AccessKeyId"],
                      "secret_access_key": key["SecretAccessKey"], "sizes": sizes}), flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
