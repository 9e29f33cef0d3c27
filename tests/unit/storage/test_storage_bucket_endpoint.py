"""A Linode bucket's endpoint: a bare host from the API means HTTPS, signed with the host's own name."""

from __future__ import annotations

from types import SimpleNamespace

from stager.storage.credentials import LINODE_OBJECTS_DOMAIN, bucket_endpoint


class FakeCloud:
    """What ``bucket_endpoint`` uses of a LinodeCloud: ``call`` and the linode_api4 client's bucket list."""

    def __init__(self, buckets) -> None:
        self.api = SimpleNamespace(object_storage=SimpleNamespace(buckets=lambda: buckets))

    def call(self, action, fn, **kwargs):
        return fn()


def test_linodes_bare_host_becomes_an_https_endpoint():
    cloud = FakeCloud([SimpleNamespace(label="other", cluster="eu-central-1", s3_endpoint=None),
                       SimpleNamespace(label="data", cluster="us-iad-1", s3_endpoint="us-iad-10.objects.localhost")])
    assert bucket_endpoint(cloud, "data") == ("https://us-iad-10.objects.localhost", "us-iad-10")


def test_without_s3_endpoint_the_cluster_names_the_host():
    cloud = FakeCloud([SimpleNamespace(label="data", cluster="us-east-1", s3_endpoint=None)])
    assert bucket_endpoint(cloud, "data") == (f"https://us-east-1.{LINODE_OBJECTS_DOMAIN}", "us-east-1")
