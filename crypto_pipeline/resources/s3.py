"""S3-compatible object storage (MinIO locally, any S3 elsewhere) as a Dagster resource."""
from __future__ import annotations

from urllib.parse import urlparse

from dagster import ConfigurableResource
from pydantic import Field


class S3Resource(ConfigurableResource):
    endpoint: str = Field(description="http(s)://host:port of the S3 API")
    access_key: str
    secret_key: str
    bucket: str
    region: str = "us-east-1"

    def client(self):
        from minio import Minio

        u = urlparse(self.endpoint)
        return Minio(u.netloc, access_key=self.access_key, secret_key=self.secret_key,
                     secure=u.scheme == "https", region=self.region)

    def uri(self, *parts: str) -> str:
        """s3a:// URI of a path in the bucket, as Spark/Hudi address it."""
        return "s3a://" + "/".join([self.bucket, *[p.strip("/") for p in parts]])
