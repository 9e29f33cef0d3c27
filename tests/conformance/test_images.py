"""Private images: captured from an instance's disk, or uploaded; limits enforced."""

from __future__ import annotations

import gzip
import io
import tarfile

import pytest
import requests
from linode_api4 import ApiError, Image

from stager.emulator.sandbox import new_host_key

from .ssh_helpers import connect, host_key_user_data, run, wait_for, wait_status


def _booted(client, pubkey, host_key, image="linode/ubuntu24.04"):
    created = client.linode.instance_create("g6-nanode-1", "us-east", image=image, authorized_keys=[pubkey],
                                            metadata={"user_data": host_key_user_data(host_key)})
    instance = created[0] if isinstance(created, tuple) else created
    wait_status(instance, "running")
    return instance


def _available(client, image_id):
    def ready():
        image = client.load(Image, image_id)
        return image if image.status == "available" else None

    return wait_for(ready)


def test_capture_restores_the_filesystem_on_a_new_instance(client, ssh_key):
    key, pubkey = ssh_key
    host_key = new_host_key()
    builder = _booted(client, pubkey, host_key)
    with connect(builder, key, host_key) as ssh:
        assert run(ssh, "mkdir -p venv/bin && echo gold > venv/marker && head -c 300000 /dev/urandom > blob")[0] == 0
    disk = next(d for d in builder.disks if d.filesystem == "ext4")
    image = client.images.create(disk, label="gold-abc123", description="recipe abc123", tags=["stager"])
    assert image.status == "creating"
    image = _available(client, image.id)
    assert image.size >= 1 and image.id.startswith("private/")
    builder.delete()

    worker = _booted(client, pubkey, host_key, image=image.id)
    with connect(worker, key, host_key) as ssh:
        code, out, _ = run(ssh, "cat venv/marker && stat -c %s blob")
        assert code == 0 and out.split() == ["gold", "300000"]
    assert worker.image.id == image.id
    worker.delete()
    found = client.images(Image.label == "gold-abc123")
    assert [i.id for i in found] == [image.id]
    image.delete()
    with pytest.raises(ApiError):
        client.load(Image, image.id)


def test_capture_refuses_a_disk_over_six_gigabytes(client, ssh_key):
    key, pubkey = ssh_key
    host_key = new_host_key()
    builder = _booted(client, pubkey, host_key)
    with connect(builder, key, host_key) as ssh:
        assert run(ssh, "truncate -s 7G sparse.img")[0] == 0  # sparse: counts, costs no disk
    disk = next(d for d in builder.disks if d.filesystem == "ext4")
    with pytest.raises(ApiError) as caught:
        client.images.create(disk, label="too-big")
    assert caught.value.status == 400 and "6144 MB" in caught.value.json["errors"][0]["reason"]
    builder.delete()


def test_failed_capture_is_a_failed_event(client, ssh_key, emulator):
    key, pubkey = ssh_key
    builder = _booted(client, pubkey, new_host_key())
    emulator.faults.failing_captures = 1
    disk = next(d for d in builder.disks if d.filesystem == "ext4")
    image = client.images.create(disk, label="doomed")
    emulator.settle()
    events = [e for e in client.account.events() if e.action == "disk_imagize"]
    assert events[0].status == "failed"
    with pytest.raises(ApiError):
        client.load(Image, image.id)
    builder.delete()


def test_upload_a_gzipped_image(client, ssh_key):
    key, pubkey = ssh_key
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        data = b"uploaded\n"
        info = tarfile.TarInfo("root/from-upload.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    image, upload_to = client.images.create_upload("uploaded-gold", "us-east", "from a tarball")
    assert image.status == "pending_upload"
    response = requests.put(upload_to, data=gzip.compress(archive.getvalue()), timeout=30)
    assert response.status_code == 200
    image = _available(client, image.id)
    host_key = new_host_key()
    worker = _booted(client, pubkey, host_key, image=image.id)
    with connect(worker, key, host_key) as ssh:
        assert run(ssh, "cat from-upload.txt")[1] == "uploaded\n"
    worker.delete()
    again = requests.put(upload_to, data=gzip.compress(b"x"), timeout=30)
    assert again.status_code == 404  # an upload URL is used once


def test_upload_refuses_path_traversal(client):
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo("../../escaped.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    image, upload_to = client.images.create_upload("evil", "us-east")
    response = requests.put(upload_to, data=gzip.compress(archive.getvalue()), timeout=30)
    assert response.status_code == 400
    with pytest.raises(ApiError):
        client.load(Image, image.id)


def test_at_most_25_custom_images(client, emulator):
    for n in range(25):
        client.images.create_upload(f"slot-{n}", "us-east")
    with pytest.raises(ApiError) as caught:
        client.images.create_upload("one-too-many", "us-east")
    assert caught.value.status == 400 and "25" in caught.value.json["errors"][0]["reason"]
