"""The local target: an emulator started for it, the same LinodeCloud, stopped by close()."""

from __future__ import annotations

import ipaddress

from stager.cloud import CloudTarget, open_target


def test_local_target_starts_and_stops_its_own_emulator(tmp_path, make_spec):
    state_dir = tmp_path / "emulator"
    with open_target("local", state_dir=state_dir) as target:
        assert isinstance(target, CloudTarget)
        assert (target.name, target.sandboxed) == ("local", True)
        assert target.s3_endpoint.startswith("http://127.")
        assert (state_dir / "emulator.json").exists()
        token = target.cloud._client.token
        assert token and token not in repr(target) and token not in str(target)

        cloud = target.cloud
        assert "us-east" in cloud.gpu_regions()
        info = cloud.create_instance(make_spec(run="local1"))
        info = cloud.wait_instance(info.id, timeout=10)
        assert ipaddress.ip_address(info.ipv4).is_loopback
        assert cloud.delete_instance(info.id) is True
    assert not (state_dir / "emulator.json").exists()
    target.close()  # twice is fine
