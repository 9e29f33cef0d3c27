"""ListObjects v1/v2: prefix, delimiter, max-keys paging, continuation tokens, start-after."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from stager.emulator.s3.listing import list_page

KEYS = sorted(
    [f"runs/run-{i:02d}/metrics.json" for i in range(12)]
    + [f"data/shard-{i:03d}.bin" for i in range(15)]
    + ["data/manifest.json", "README", "runs/latest"]
)


@pytest.fixture
def filled(client, bucket) -> str:
    for key in KEYS:
        client.put_object(Bucket=bucket, Key=key, Body=key.encode())
    return bucket


def test_v2_paginates_over_more_than_max_keys(client, filled):
    pages = list(client.get_paginator("list_objects_v2").paginate(Bucket=filled, PaginationConfig={"PageSize": 7}))
    assert len(pages) == 5
    assert [p["KeyCount"] for p in pages] == [7, 7, 7, 7, 2]
    assert all(p["IsTruncated"] for p in pages[:-1]) and not pages[-1]["IsTruncated"]
    keys = [o["Key"] for p in pages for o in p["Contents"]]
    assert keys == KEYS
    sizes = {o["Key"]: o["Size"] for p in pages for o in p["Contents"]}
    assert sizes["README"] == len("README")


def test_v1_paginates_with_markers(client, filled):
    pages = list(client.get_paginator("list_objects").paginate(Bucket=filled, PaginationConfig={"PageSize": 10}))
    assert len(pages) == 3
    assert [o["Key"] for p in pages for o in p["Contents"]] == KEYS
    assert pages[0]["NextMarker"] == KEYS[9]


def test_prefix_and_delimiter(client, filled):
    top = client.list_objects_v2(Bucket=filled, Delimiter="/")
    assert [o["Key"] for o in top["Contents"]] == ["README"]
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["data/", "runs/"]

    runs = client.list_objects_v2(Bucket=filled, Prefix="runs/", Delimiter="/")
    assert [o["Key"] for o in runs["Contents"]] == ["runs/latest"]
    assert [p["Prefix"] for p in runs["CommonPrefixes"]] == [f"runs/run-{i:02d}/" for i in range(12)]

    shards = client.list_objects_v2(Bucket=filled, Prefix="data/shard-00")
    assert [o["Key"] for o in shards["Contents"]] == [f"data/shard-00{i}.bin" for i in range(10)]


def test_common_prefixes_page_without_repeats(client, filled):
    pages = list(
        client.get_paginator("list_objects_v2").paginate(
            Bucket=filled, Prefix="runs/", Delimiter="/", PaginationConfig={"PageSize": 5}
        )
    )
    prefixes = [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])]
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    assert prefixes == [f"runs/run-{i:02d}/" for i in range(12)]
    assert keys == ["runs/latest"]
    assert len(pages) == 3

    v1 = list(
        client.get_paginator("list_objects").paginate(
            Bucket=filled, Prefix="runs/", Delimiter="/", PaginationConfig={"PageSize": 5}
        )
    )
    assert [p["Prefix"] for page in v1 for p in page.get("CommonPrefixes", [])] == prefixes


def test_start_after_and_bad_token(client, filled):
    rest = client.list_objects_v2(Bucket=filled, StartAfter="runs/run-10/metrics.json")
    assert [o["Key"] for o in rest["Contents"]] == ["runs/run-11/metrics.json"]
    assert rest["StartAfter"] == "runs/run-10/metrics.json"
    with pytest.raises(ClientError, match=r"\(InvalidArgument\)"):
        client.list_objects_v2(Bucket=filled, ContinuationToken="!!not-a-token!!")


def test_empty_bucket_listing(client, bucket):
    listed = client.list_objects_v2(Bucket=bucket)
    assert listed["KeyCount"] == 0 and "Contents" not in listed and not listed["IsTruncated"]


def test_list_page_rules():
    keys = ["a", "b/1", "b/2", "b/3", "c", "d/x/y"]
    page = list_page(keys, delimiter="/", max_keys=2)
    assert (page.keys, page.common_prefixes, page.truncated, page.last) == (["a"], ["b/"], True, "b/")
    page = list_page(keys, delimiter="/", after="b/", max_keys=2)
    assert (page.keys, page.common_prefixes, page.truncated) == (["c"], ["d/"], False)
    assert list_page(keys, max_keys=0).keys == []
    assert list_page(keys, prefix="b/", after="b/1").keys == ["b/2", "b/3"]
    assert list_page(keys, prefix="zz").keys == []
