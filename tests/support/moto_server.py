"""Starts a moto server on 127.0.0.1 for ecr-lambda's end-to-end tests.

Prints the port it listens on, then serves until its standard input closes (the
test process that started it exited), so no server outlives its tests.

Usage: python3 moto_server.py [PORT]   (0 or nothing: any free port)
"""

import logging
import os
import sys

# Lambda resolves image URIs in moto's own ECR, as the real service does in ECR.
os.environ.setdefault("MOTO_LAMBDA_STUB_ECR", "false")

import boto3  # noqa: E402  (moto depends on it)
from moto.server import ThreadedMotoServer  # noqa: E402

ROLE = "ecr-lambda-test-role"


def main() -> None:
    # Request logs would drown the test output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    # moto's Lambda refuses functions whose role IAM does not know.
    boto3.client(
        "iam",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_role(RoleName=ROLE, AssumeRolePolicyDocument="{}")
    print(port, flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
