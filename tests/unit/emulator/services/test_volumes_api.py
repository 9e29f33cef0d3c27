"""Block Storage volumes through the real linode_api4 client."""

from __future__ import annotations

import pytest
from linode_api4 import ApiError, Volume

from stager.emulator.volumes.models import MAX_PER_INSTANCE


def _error(excinfo) -> tuple[int, list[dict]]:
    return excinfo.value.status, excinfo.value.json["errors"]


def _events(api, action):
    return [e for e in api.backend.events.events.values() if e.action == action]


def test_create_get_list_update_delete(api):
    client = api.client
    volume = client.volumes.create("data-1", region="us-east", size=30, tags=["stager"])
    assert volume.status == "creating"
    assert volume.filesystem_path == "/dev/disk/by-id/scsi-0Linode_Volume_data-1"
    assert volume.linode_id is None and volume.linode_label is None
    api.settle()

    fetched = client.load(Volume, volume.id)
    assert (fetched.label, fetched.size, fetched.region.id, fetched.status) == ("data-1", 30, "us-east", "active")
    assert fetched.tags == ["stager"] and fetched.hardware_type == "nvme" and fetched.encryption == "disabled"
    [created] = _events(api, "volume_create")
    assert created.status == "finished" and created.entity["id"] == volume.id

    client.volumes.create("data-2", region="eu-central")
    assert sorted(v.label for v in client.volumes()) == ["data-1", "data-2"]
    assert [v.label for v in client.volumes(Volume.region == "eu-central")] == ["data-2"]

    fetched.label = "renamed"
    fetched.tags = ["a-tag", "stager"]
    fetched.save()
    again = client.load(Volume, volume.id)
    assert again.label == "renamed" and sorted(again.tags) == ["a-tag", "stager"]
    assert again.filesystem_path.endswith("_renamed")

    assert api.backend.volumes.data_dir(volume.id).is_dir()
    again.delete()
    assert not api.backend.volumes.data_dir(volume.id).exists()
    with pytest.raises(ApiError) as excinfo:
        client.load(Volume, volume.id)
    assert excinfo.value.status == 404
    assert _events(api, "volume_delete")


@pytest.mark.parametrize(("body", "field"), [
    ({"region": "us-east"}, "label"),
    ({"label": "9starts-with-digit", "region": "us-east"}, "label"),
    ({"label": "double--dash", "region": "us-east"}, "label"),
    ({"label": "x" * 33, "region": "us-east"}, "label"),
    ({"label": "small", "region": "us-east", "size": 9}, "size"),
    ({"label": "huge", "region": "us-east", "size": 10241}, "size"),
    ({"label": "text-size", "region": "us-east", "size": "20"}, "size"),
    ({"label": "nowhere"}, "region"),
    ({"label": "bad-region", "region": "mars-1"}, "region"),
    ({"label": "no-linode", "linode_id": 999}, "linode_id"),
    ({"label": "bad-tags", "region": "us-east", "tags": ["x"]}, "tags"),
])
def test_create_rejects_bad_requests(api, body, field):
    with pytest.raises(ApiError) as excinfo:
        api.client.post("/volumes", data=body)
    status, errors = _error(excinfo)
    assert status == 400 and errors[0]["field"] == field


def test_labels_are_unique(api):
    api.client.volumes.create("taken", region="us-east")
    other = api.client.volumes.create("other", region="us-east")
    with pytest.raises(ApiError) as excinfo:
        api.client.volumes.create("taken", region="us-east")
    assert _error(excinfo) == (400, [{"reason": excinfo.value.json["errors"][0]["reason"], "field": "label"}])
    other.label = "taken"
    with pytest.raises(ApiError) as excinfo:
        other.save()
    assert excinfo.value.status == 400


def test_resize_grows_only(api):
    volume = api.client.volumes.create("grow", region="us-east", size=20)
    api.settle()
    assert volume.resize(40)
    assert volume.size == 40 and volume.status == "resizing"
    api.settle()
    volume.invalidate()
    assert volume.status == "active" and volume.size == 40
    assert [e.status for e in _events(api, "volume_resize")] == ["finished"]
    for size in (40, 30, 20000):
        with pytest.raises(ApiError) as excinfo:
            volume.resize(size)
        assert excinfo.value.status == 400 and excinfo.value.json["errors"][0]["field"] == "size"


def test_attach_detach_rules(api):
    client = api.client
    east = api.instance("east-1")
    east_2 = api.instance("east-2")
    west = api.instance("eu-1", region="eu-central")
    volume = client.volumes.create("vol", region="us-east")
    with pytest.raises(ApiError) as excinfo:
        volume.attach(east.id)  # still creating
    assert excinfo.value.status == 400
    api.settle()

    assert volume.attach(east.id)
    assert volume.linode_id == east.id and volume.linode_label == "east-1"
    assert volume.attach(east.id)  # a retried attach is harmless
    assert [v.id for v in east.volumes()] == [volume.id]
    east.label = "east-renamed"
    east.save()
    volume.invalidate()
    assert volume.linode_label == "east-renamed"
    assert api.backend.volumes.attached_to(east.id)[0].id == volume.id

    with pytest.raises(ApiError) as excinfo:
        volume.attach(east_2.id)
    assert excinfo.value.status == 400  # attached elsewhere
    with pytest.raises(ApiError) as excinfo:
        volume.delete()
    assert excinfo.value.status == 400  # attached
    with pytest.raises(ApiError) as excinfo:
        client.post(f"/volumes/{volume.id}/attach", data={})
    assert excinfo.value.json["errors"][0]["field"] == "linode_id"

    volume.detach()
    volume.invalidate()
    assert volume.linode_id is None and volume.linode_label is None
    volume.detach()  # detaching a detached volume is harmless

    with pytest.raises(ApiError) as excinfo:
        volume.attach(west.id)
    assert excinfo.value.status == 400 and excinfo.value.json["errors"][0]["field"] == "linode_id"
    with pytest.raises(ApiError) as excinfo:
        volume.attach(424242)
    assert excinfo.value.status == 400
    api.settle()
    assert [e.status for e in _events(api, "volume_attach")] == ["finished"]
    assert [e.status for e in _events(api, "volume_detach")] == ["finished"]
    assert _events(api, "volume_attach")[0].secondary_entity["id"] == east.id


def test_at_most_eight_volumes_per_instance(api):
    instance = api.instance("full")
    for n in range(MAX_PER_INSTANCE):
        api.client.volumes.create(f"v{n}", linode=instance.id)
    assert len(api.backend.volumes.attached_to(instance.id)) == MAX_PER_INSTANCE
    with pytest.raises(ApiError) as excinfo:
        api.client.volumes.create("one-too-many", linode=instance.id)
    assert excinfo.value.status == 400 and excinfo.value.json["errors"][0]["field"] == "linode_id"
    spare = api.client.volumes.create("spare", region="us-east")
    api.settle()
    with pytest.raises(ApiError):
        spare.attach(instance.id)


def test_create_attached_takes_the_instance_region(api):
    instance = api.instance("frankfurt", region="eu-central")
    volume = api.client.volumes.create("fra", linode=instance.id)
    assert volume.region.id == "eu-central" and volume.linode_id == instance.id
    with pytest.raises(ApiError) as excinfo:
        api.client.volumes.create("fra-2", region="us-east", linode=instance.id)
    assert excinfo.value.json["errors"][0]["field"] == "region"


def test_deleting_the_instance_detaches_its_volumes(api):
    instance = api.instance("doomed")
    volume = api.client.volumes.create("keeper", linode=instance.id)
    instance.delete()
    volume.invalidate()
    assert volume.linode_id is None
    api.settle()
    volume.delete()


def test_contents_follow_the_volume_into_running_sandboxes(api):
    first = api.instance("runner-1", booted=True)
    second = api.instance("runner-2", booted=True)
    volume = api.client.volumes.create("shared", region="us-east")
    api.settle()
    volume.attach(first.id)
    device = api.backend.instances.root(first.id) / "dev/disk/by-id/scsi-0Linode_Volume_shared"
    assert device.is_dir()
    (device / "weights.bin").write_bytes(b"epoch-3")
    assert (api.backend.volumes.data_dir(volume.id) / "weights.bin").read_bytes() == b"epoch-3"

    volume.detach()
    assert not device.exists()
    volume.attach(second.id)
    moved = api.backend.instances.root(second.id) / "dev/disk/by-id/scsi-0Linode_Volume_shared"
    assert (moved / "weights.bin").read_bytes() == b"epoch-3"

    volume.label = "renamed"
    volume.save()
    assert not moved.exists()
    renamed = api.backend.instances.root(second.id) / "dev/disk/by-id/scsi-0Linode_Volume_renamed"
    assert (renamed / "weights.bin").read_bytes() == b"epoch-3"


def test_clone_copies_contents(api):
    source = api.client.volumes.create("source", region="us-east", size=15)
    (api.backend.volumes.data_dir(source.id) / "a.txt").write_text("hello")
    api.settle()
    clone = source.clone("copy")
    assert clone.size == 15 and clone.region.id == "us-east" and clone.id != source.id
    assert (api.backend.volumes.data_dir(clone.id) / "a.txt").read_text() == "hello"


def test_types_and_scopes(api):
    [volume_type] = api.client.volumes.types()
    assert volume_type.id == "volume" and volume_type.price.monthly == 0.1

    reader = api.client_for("volumes:read_only")
    api.client.volumes.create("seen", region="us-east")
    assert [v.label for v in reader.volumes()] == ["seen"]
    with pytest.raises(ApiError) as excinfo:
        reader.volumes.create("nope", region="us-east")
    assert excinfo.value.status == 403
    with pytest.raises(ApiError) as excinfo:
        api.client_for("linodes:read_write").volumes().first()
    assert excinfo.value.status == 403


def test_volumes_survive_a_restart(make_api, tmp_path):
    first = make_api(tmp_path / "state")
    first.backend.volumes.transition_s = 60  # still creating when the emulator stops
    volume = first.client.volumes.create("durable", region="us-east", size=25)
    (first.backend.volumes.data_dir(volume.id) / "f").write_text("kept")
    first.stop()

    second = make_api(tmp_path / "state")
    second.backend.resume()
    again = second.client.load(Volume, volume.id)
    assert (again.label, again.size, again.status) == ("durable", 25, "active")
    assert (second.backend.volumes.data_dir(volume.id) / "f").read_text() == "kept"
    assert [e.status for e in _events(second, "volume_create")] == ["finished"]
