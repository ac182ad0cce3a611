"""MinIO built from the Go module proxy: the bucket exists, objects round-trip, credentials are enforced."""
import io
import os

import pytest
from minio import Minio
from minio.error import S3Error


def test_put_get_round_trip(minio_stack):
    s, c = minio_stack.settings, minio_stack.creds
    client = Minio(f"{s.bind_host}:{s.minio.port}", access_key=c.minio_user, secret_key=c.minio_password, secure=False)
    assert client.bucket_exists(s.minio.bucket)
    payload = os.urandom(3 * 1024 * 1024 + 17)
    client.put_object(s.minio.bucket, "it/blob.bin", io.BytesIO(payload), len(payload))
    resp = client.get_object(s.minio.bucket, "it/blob.bin")
    try:
        assert resp.read() == payload
    finally:
        resp.close()
        resp.release_conn()
    names = [o.object_name for o in client.list_objects(s.minio.bucket, prefix="it/", recursive=True)]
    assert names == ["it/blob.bin"]


def test_wrong_secret_is_refused(minio_stack):
    s, c = minio_stack.settings, minio_stack.creds
    client = Minio(f"{s.bind_host}:{s.minio.port}", access_key=c.minio_user, secret_key="not-the-secret", secure=False)
    with pytest.raises(S3Error, match="SignatureDoesNotMatch"):
        client.bucket_exists(s.minio.bucket)
