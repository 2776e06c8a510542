"""Results and checkpoints in S3-compatible object storage (AWS S3, MinIO, …) through boto3.

Uploads use boto3's managed transfer, which switches to multipart above 8 MiB. `video_url` is a
presigned GET with the contract's TTL, so clients download straight from the store (S3 answers 403 after
expiry). Checkpoints are uploaded so a task requeued onto another machine resumes there; a local copy is
kept in the work directory so a resume on the same machine downloads nothing.

Clients get the same signed `video_url` as with local storage (so an expired or altered link is the
contract's 403 whatever the object store does); the file route answers it with a redirect to a presigned
GET that expires no later than the link, and the bytes come straight from the store.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from shotline.storage.local import check_checkpoint_name, check_task_id

log = logging.getLogger("shotline.storage")
MULTIPART = TransferConfig(multipart_threshold=8 * 1024 * 1024, multipart_chunksize=8 * 1024 * 1024)


class S3Storage:
    def __init__(self, *, bucket: str, prefix: str, endpoint_url: str | None, region: str, work_dir: Path,
                 client: Any = None) -> None:
        if not bucket:
            raise ValueError("SHOTLINE_S3_BUCKET is required with SHOTLINE_STORAGE=s3")
        self.bucket, self.prefix = bucket, prefix
        self.cache = work_dir / "checkpoints"
        self.client = client or boto3.client(
            "s3", endpoint_url=endpoint_url or None, region_name=region,
            config=Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=60,
                          signature_version="s3v4"),
        )

    # -------------------------------------------------------------------------------------------- results

    def _result_key(self, task_id: str) -> str:
        return f"{self.prefix}results/{check_task_id(task_id)}.mp4"

    def save(self, task_id: str, src: Path) -> str:
        key = self._result_key(task_id)
        self.client.upload_file(str(src), self.bucket, key, ExtraArgs={"ContentType": "video/mp4"},
                                Config=MULTIPART)
        src.unlink(missing_ok=True)
        return key

    def locate(self, key: str, ttl_s: int) -> str | None:
        """A presigned GET for the stored video, valid `ttl_s` (None if the object is gone)."""
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=max(1, ttl_s))

    def delete(self, key: str) -> None:
        """Remove a stored video (retention); S3 deletes of missing keys succeed."""
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def stored_results(self) -> Iterator[tuple[str, float]]:
        """(key, last-modified time) of every stored video, for the retention sweep of orphans."""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}results/"):
            for obj in page.get("Contents", []):
                yield obj["Key"], obj["LastModified"].timestamp()

    def writable(self) -> bool:
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return True
        except (BotoCoreError, ClientError):
            return False

    def ensure(self) -> None:
        pass

    # ---------------------------------------------------------------------------------------- checkpoints

    def _checkpoint_key(self, task_id: str, name: str) -> str:
        return f"{self.prefix}checkpoints/{check_task_id(task_id)}/{check_checkpoint_name(name)}"

    def put_checkpoint(self, task_id: str, name: str, src: Path) -> Path:
        self.client.upload_file(str(src), self.bucket, self._checkpoint_key(task_id, name), Config=MULTIPART)
        local = self.cache / task_id / name
        local.parent.mkdir(parents=True, exist_ok=True)
        src.replace(local)
        return local

    def get_checkpoint(self, task_id: str, name: str, work_dir: Path) -> Path | None:
        local = self.cache / check_task_id(task_id) / check_checkpoint_name(name)
        if local.is_file():
            return local
        local.parent.mkdir(parents=True, exist_ok=True)
        part = local.with_name(local.name + ".download")
        try:
            self.client.download_file(self.bucket, self._checkpoint_key(task_id, name), str(part))
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        part.replace(local)
        return local

    def delete_checkpoints(self, task_id: str) -> None:
        prefix = f"{self.prefix}checkpoints/{check_task_id(task_id)}/"
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
        shutil.rmtree(self.cache / task_id, ignore_errors=True)
