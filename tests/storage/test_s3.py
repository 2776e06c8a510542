"""S3 storage against moto's server mode (real HTTP on loopback): multipart upload of large results,
presigned reads with ranges, and checkpoints that move between machines."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import boto3
import httpx
import pytest

from shotline.storage.s3 import S3Storage


@pytest.fixture
def bucket(scale_services) -> tuple[str, str]:
    return scale_services.moto.new_bucket(), scale_services.moto.url


def storage(bucket: tuple[str, str], work: Path) -> S3Storage:
    name, url = bucket
    return S3Storage(bucket=name, prefix="t/", endpoint_url=url, region="us-east-1", work_dir=work)


def test_large_result_goes_up_in_parts_and_reads_back_by_range(bucket, tmp_path: Path) -> None:
    s3 = storage(bucket, tmp_path / "w")
    task_id = str(uuid.uuid4())
    src = tmp_path / "big.mp4"
    data = os.urandom(20 * 1024 * 1024 + 123)
    src.write_bytes(data)
    key = s3.save(task_id, src)
    assert not src.exists()  # moved into the store
    head = boto3.client("s3", endpoint_url=bucket[1]).head_object(Bucket=bucket[0], Key=key)
    assert head["ContentLength"] == len(data) and head["ContentType"] == "video/mp4"
    assert head["ETag"].strip('"').endswith("-3")  # a multipart upload of three 8 MiB parts
    url = s3.locate(key, ttl_s=60)
    r = httpx.get(url, headers={"Range": "bytes=1000-1999"})
    assert r.status_code == 206 and r.content == data[1000:2000]
    assert s3.locate(f"t/results/{uuid.uuid4()}.mp4", ttl_s=60) is None
    assert s3.writable()


def test_checkpoints_follow_a_task_to_another_machine(bucket, tmp_path: Path) -> None:
    first, second = storage(bucket, tmp_path / "machine-a"), storage(bucket, tmp_path / "machine-b")
    task_id = str(uuid.uuid4())
    part = tmp_path / "shot0.part"
    part.write_bytes(b"segment bytes")
    local = first.put_checkpoint(task_id, "abc-shot0.mp4", part)
    assert local.read_bytes() == b"segment bytes" and first.get_checkpoint(task_id, "abc-shot0.mp4", tmp_path) == local
    fetched = second.get_checkpoint(task_id, "abc-shot0.mp4", tmp_path)
    assert fetched is not None and fetched.read_bytes() == b"segment bytes"
    assert second.get_checkpoint(task_id, "abc-shot1.mp4", tmp_path) is None
    first.delete_checkpoints(task_id)
    assert storage(bucket, tmp_path / "machine-c").get_checkpoint(task_id, "abc-shot0.mp4", tmp_path) is None
    assert not (tmp_path / "machine-a" / "checkpoints" / task_id).exists()


def test_names_from_outside_never_become_keys(bucket, tmp_path: Path) -> None:
    s3 = storage(bucket, tmp_path)
    for bad in ("../x", "a/b", ""):
        with pytest.raises(ValueError):
            s3.put_checkpoint(str(uuid.uuid4()), bad, tmp_path / "nope")
    with pytest.raises(ValueError):
        s3.save("../../etc", tmp_path / "nope")


def test_unreachable_store_is_reported_not_ready(tmp_path: Path) -> None:
    from tests.helpers.services import free_port

    s3 = S3Storage(bucket="b", prefix="", endpoint_url=f"http://127.0.0.1:{free_port()}", region="us-east-1",
                   work_dir=tmp_path)
    assert s3.writable() is False
