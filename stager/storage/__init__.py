"""Datasets to and from S3-compatible Object Storage (Linode, the local emulator, any endpoint).

    from stager.storage import S3Location, make_client, resolve_settings, sync_dataset, pull_dataset

    location = S3Location.parse("s3://stager-data/mnist")
    settings, close = resolve_settings("local", location)
    try:
        client = make_client(settings)
        result = sync_dataset(Path("data/mnist"), manifest, location, client, delete=True)
        pulled = pull_dataset(location, Path("/tmp/mnist"), client)   # pulled.manifest: the remote manifest
    finally:
        close()

Modules: ``s3`` (locations, the one client factory, transfer tuning),
``credentials`` (endpoint and keys per target), ``remote`` (listing, the remote
manifest), ``plan`` (what to send), ``upload`` / ``sync`` (sending, verifying),
``pull`` (the way back), ``progress``, ``parallel`` (thread pools that stop cleanly),
``errors`` (botocore errors as stager's), ``fastput`` / ``sigv4`` (small PUTs without
botocore's per-request cost);
``volume`` keeps datasets on Block Storage volumes instead.

Names are imported on first use, so ``import stager.storage`` does not load boto3.
"""

from __future__ import annotations

import importlib

__all__ = ["S3Location", "S3Settings", "SyncResult", "make_client", "pull_dataset", "resolve_settings",
           "sync_dataset", "transfer_config"]

_HOMES = {
    "S3Location": "stager.storage.s3",
    "S3Settings": "stager.storage.s3",
    "make_client": "stager.storage.s3",
    "transfer_config": "stager.storage.s3",
    "resolve_settings": "stager.storage.credentials",
    "SyncResult": "stager.storage.sync",
    "sync_dataset": "stager.storage.sync",
    "pull_dataset": "stager.storage.pull",
}


def __getattr__(name: str):
    module = _HOMES.get(name)
    if module is None:
        raise AttributeError(f"module 'stager.storage' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
