"""State survives the emulator's restart; billing follows Linode's hourly rule on a controllable clock."""

from __future__ import annotations

import boto3
from linode_api4 import Image, Instance

from stager.emulator import Emulator, StateDirBusy
from stager.emulator.sandbox import new_host_key

from .ssh_helpers import connect, host_key_user_data, run, wait_for, wait_status
from .test_object_storage import S3_CONFIG


def test_everything_survives_a_restart(tmp_path, ssh_key):
    key, pubkey = ssh_key
    host_key = new_host_key()
    with Emulator(tmp_path, rate_limits=False) as first:
        client = first.client()
        instance = client.linode.instance_create("g6-nanode-1", "us-east", image="linode/ubuntu24.04",
                                                 label="leaked-by-a-crash", authorized_keys=[pubkey],
                                                 metadata={"user_data": host_key_user_data(host_key)})
        wait_status(instance, "running")
        with connect(instance, key, host_key) as ssh:
            run(ssh, "echo still-here > note")
        disk = next(d for d in instance.disks if d.filesystem == "ext4")
        image = client.images.create(disk, label="gold-kept")
        wait_for(lambda: client.load(Image, image.id).status == "available")
        client.object_storage.bucket_create("us-east", "kept-bucket")
        s3_key = client.object_storage.keys_create("kept-key")
        boto3.client("s3", endpoint_url=first.s3_endpoint, region_name="us-east-1", config=S3_CONFIG,
                     aws_access_key_id=s3_key.access_key, aws_secret_access_key=s3_key.secret_key,
                     ).put_object(Bucket="kept-bucket", Key="a/b.txt", Body=b"persisted")
        token = first.token
    with Emulator(tmp_path, rate_limits=False) as second:
        assert second.token == token
        client = second.client()
        again = client.load(Instance, instance.id)
        assert (again.label, again.status) == ("leaked-by-a-crash", "running")
        with connect(again, key, host_key) as ssh:  # the same host key: the pin still holds
            assert run(ssh, "cat note")[1] == "still-here\n"
        assert client.load(Image, image.id).label == "gold-kept"
        body = boto3.client("s3", endpoint_url=second.s3_endpoint, region_name="us-east-1", config=S3_CONFIG,
                            aws_access_key_id=s3_key.access_key, aws_secret_access_key=s3_key.secret_key,
                            ).get_object(Bucket="kept-bucket", Key="a/b.txt")["Body"].read()
        assert body == b"persisted"
        second.reset()


def test_one_emulator_per_state_directory(tmp_path):
    with Emulator(tmp_path, rate_limits=False):
        try:
            Emulator(tmp_path).start()
        except StateDirBusy as exc:
            assert str(tmp_path) in str(exc)
        else:
            raise AssertionError("a second emulator took the same state directory")


def test_billing_rounds_up_to_whole_hours_until_deleted(client, emulator):
    gpu = client.linode.instance_create("g1-gpu-rtx6000-1", "us-east", booted=False)
    small = client.linode.instance_create("g6-nanode-1", "us-east", booted=False)
    emulator.clock.advance(minutes=1)
    small.delete()  # a one-minute instance costs one hour
    emulator.clock.advance(hours=2, minutes=59)  # powered off the whole time, still billed
    report = emulator.billing()
    rows = {row["plan"]: row for row in report["instances"]}
    assert rows["g6-nanode-1"]["hours"] == 1 and rows["g6-nanode-1"]["usd"] == 0.0075
    assert rows["g1-gpu-rtx6000-1"]["hours"] == 3 and rows["g1-gpu-rtx6000-1"]["usd"] == 4.5
    emulator.clock.advance(hours=24 * 40)  # capped at the monthly price
    assert {r["plan"]: r["usd"] for r in emulator.billing()["instances"]}["g1-gpu-rtx6000-1"] == 1000.0
    gpu.delete()
