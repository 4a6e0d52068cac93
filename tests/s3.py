"""A test's S3: moto's server (tests/s3_server.py) in its own process, and a look inside it.

terrain is the client through GDAL; boto3 (which moto brings) only looks at
what the server holds, as the AWS command line would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3

from .conftest import DEFAULT_INSTALL

SERVER = Path(__file__).with_name("s3_server.py")

#: Test credentials (moto takes any unless authentication is turned on).
KEY, SECRET, REGION = "testing", "testing", "us-east-1"


class S3:
    """moto's S3 server on 127.0.0.1, in its own process."""

    def __init__(self, log: Path | None = None, lose_answers: str | None = None):
        command = [sys.executable, str(SERVER), "--timeout", "600"]
        if log is not None:
            command += ["--log", str(log)]
        if lose_answers is not None:
            command += ["--lose-answers", lose_answers]
        # moto needs boto3, which the tests' other processes do without (tests/conftest.py)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
            if p and p != DEFAULT_INSTALL))
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
        self.port = int(self.process.stdout.readline())
        self.endpoint = f"127.0.0.1:{self.port}"
        self.client = self._client(KEY, SECRET)

    def _client(self, key: str, secret: str, service: str = "s3"):
        return boto3.client(service, endpoint_url=f"http://{self.endpoint}",
                            region_name=REGION, aws_access_key_id=key,
                            aws_secret_access_key=secret)

    def env(self, **more: str) -> dict[str, str]:
        """GDAL's settings for this server, as a user sets them (environment variables).

        Short timeouts and no retries, so that a failure fails at once.
        """
        return {
            "AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": REGION,
            "AWS_S3_ENDPOINT": self.endpoint, "AWS_HTTPS": "NO",
            "AWS_VIRTUAL_HOSTING": "FALSE", "GDAL_HTTP_TIMEOUT": "10",
            "GDAL_HTTP_CONNECTTIMEOUT": "5", "GDAL_HTTP_MAX_RETRY": "0", **more,
        }

    def bucket(self, name: str) -> str:
        self.client.create_bucket(Bucket=name)
        return name

    def objects(self, bucket: str) -> dict[str, bytes]:
        """Every object in the bucket, by key, with its bytes."""
        listing = self.client.list_objects_v2(Bucket=bucket).get("Contents", [])
        return {o["Key"]: self.client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
                for o in listing}

    def keys(self, bucket: str) -> list[str]:
        return sorted(o["Key"] for o in
                      self.client.list_objects_v2(Bucket=bucket).get("Contents", []))

    def uploads(self, bucket: str) -> list[str]:
        """The keys of the incomplete multipart uploads in the bucket."""
        return [u["Key"] for u in
                self.client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]

    def users(self) -> dict[str, tuple[str, str]]:
        """IAM users allowed everything, or only to read; then turn authentication on.

        Returns (access key id, secret key) by name: "writer", "reader".
        """
        iam = self._client(KEY, SECRET, "iam")
        keys = {}
        for name, actions in (("writer", '"s3:*"'),
                              ("reader", '["s3:GetObject", "s3:ListBucket"]')):
            iam.create_user(UserName=name)
            key = iam.create_access_key(UserName=name)["AccessKey"]
            iam.put_user_policy(
                UserName=name, PolicyName="s3",
                PolicyDocument='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
                               f'"Action": {actions}, "Resource": "*"}}]}}')
            keys[name] = (key["AccessKeyId"], key["SecretAccessKey"])
        self.client = self._client(*keys["writer"])
        import urllib.request

        switch = urllib.request.Request(  # moto's switch: check every request from now on
            f"http://{self.endpoint}/moto-api/reset-auth", data=b"0", method="POST",
            headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(switch):
            pass
        return keys

    def stop(self) -> None:
        """Stop answering (see tests/s3_server.py); the state stays."""
        self.process.send_signal(signal.SIGUSR1)
        time.sleep(0.05)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGUSR2)
        time.sleep(0.05)

    def close(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)
        self.process.stdout.close()


def empty(folder: Path) -> bool:
    return not any(Path(folder).iterdir())


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*"))


__all__ = ["S3", "empty", "tree"]
