"""Images: a failed capture, uploads streamed with progress, listing."""

from __future__ import annotations

import gzip
import io
import os
import tarfile

import pytest

from stager.cloud import CloudError


def test_a_failed_capture_is_an_error_naming_it(emulator, cloud, make_spec):
    info = cloud.create_instance(make_spec(role="builder"))
    cloud.wait_instance(info.id, timeout=10)
    cloud.shutdown_instance(info.id, timeout=10)
    emulator.faults.failing_captures = 1
    image = cloud.capture_image(info.id, label="stager-gold-bad", description="", tags=("stager",))
    with pytest.raises(CloudError, match=f"capturing image {image.id} failed: Injected fault"):
        cloud.wait_image(image.id, timeout=10)
    assert cloud.list_images() == []
    cloud.delete_instance(info.id)


def _disk_archive(path, size: int = 3_000_000) -> int:
    """A gzip'd tar holding one file, as the emulator unpacks uploads; returns the compressed size."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        payload = os.urandom(size)  # incompressible: the upload takes several reads
        member = tarfile.TarInfo("root/hello.bin")
        member.size = len(payload)
        tar.addfile(member, io.BytesIO(payload))
    path.write_bytes(gzip.compress(raw.getvalue()))
    return path.stat().st_size


def test_upload_streams_the_file_and_reports_progress(emulator, cloud, tmp_path):
    archive = tmp_path / "disk.img.gz"
    size = _disk_archive(archive)
    seen: list[tuple[int, int]] = []
    image = cloud.upload_image(archive, label="stager-uploaded", region="us-east", description="uploaded",
                               tags=("stager", "uploaded"), progress=lambda sent, total: seen.append((sent, total)))
    assert len(seen) >= 2 and seen[-1] == (size, size)  # streamed in pieces, reported as it went
    assert [sent for sent, _ in seen] == sorted(sent for sent, _ in seen)
    image = cloud.wait_image(image.id, timeout=10)
    assert (image.status, image.label, image.tags) == ("available", "stager-uploaded", ("stager", "uploaded"))
    assert [i.id for i in cloud.list_images(tag="uploaded")] == [image.id]
    everything = cloud.list_images(private_only=False)
    assert any(i.is_public and i.id == "linode/ubuntu24.04" for i in everything)
    assert all(not i.is_public for i in cloud.list_images())
    assert cloud.delete_image(image.id) is True
    assert cloud.delete_image(image.id) is False


def test_a_refused_upload_leaves_no_image_behind(emulator, cloud, tmp_path):
    not_gzip = tmp_path / "disk.img.gz"
    not_gzip.write_bytes(b"this is not gzip" * 100)
    with pytest.raises(CloudError, match="uploading disk.img.gz to image private/") as caught:
        cloud.upload_image(not_gzip, label="stager-bad-upload", region="us-east", description="", tags=("stager",))
    assert "_upload" not in str(caught.value)  # the signed URL is never shown
    assert cloud.list_images() == []
