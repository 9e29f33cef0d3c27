"""Volumes: idempotent create, attach, detach, delete."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stager.cloud import CloudError, stager_tags, volume_label


def test_volume_lifecycle(emulator, cloud, make_spec):
    tags = stager_tags("r1", timedelta(hours=1))
    label = volume_label("r1", "data")
    volume = cloud.create_volume(label=label, region="us-east", size_gb=10, tags=tags)
    assert (volume.label, volume.size_gb, volume.region, volume.linode_id) == (label, 10, "us-east", None)
    assert volume.filesystem_path.endswith(label)
    assert cloud.create_volume(label=label, region="us-east", size_gb=10, tags=tags).id == volume.id
    volume = cloud.wait_volume(volume.id, timeout=10)
    assert volume.status == "active"
    assert [v.id for v in cloud.list_volumes(tag="run:r1")] == [volume.id]

    instance = cloud.create_instance(make_spec())
    attached = cloud.attach_volume(volume.id, instance.id, timeout=10)
    assert attached.linode_id == instance.id
    assert cloud.attach_volume(volume.id, instance.id, timeout=10).linode_id == instance.id  # again: a no-op
    with pytest.raises(CloudError, match="attached"):
        cloud.delete_volume(volume.id)
    detached = cloud.detach_volume(volume.id, timeout=10)
    assert detached.linode_id is None

    assert cloud.delete_volume(volume.id) is True
    assert cloud.delete_volume(volume.id) is False
    assert cloud.get_volume(volume.id) is None
    cloud.delete_instance(instance.id)


def test_a_volume_label_of_someone_else_is_refused(emulator, cloud):
    emulator.client().volumes.create("stager-r1-data-0", region="us-east", size=10, tags=["mine"])
    with pytest.raises(CloudError, match="in use by a volume stager did not create"):
        cloud.create_volume(label="stager-r1-data-0", region="us-east", size_gb=10,
                            tags=stager_tags("r1", timedelta(hours=1)))


def test_linodes_volume_rules_come_back_as_cloud_errors(cloud):
    with pytest.raises(CloudError, match="size"):
        cloud.create_volume(label="stager-r1-tiny-0", region="us-east", size_gb=1, tags=("stager", "run:r1"))
