"""Building gold images on the local target: real SSH, real capture, zero instances left on every path."""

from __future__ import annotations

from pathlib import Path

import pytest

from stager.errors import JobFailed
from stager.image.builder import BuildFailed, ImageBuilder
from stager.image.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[3]


def builder(target, home: Path, lines: list[str] | None = None) -> ImageBuilder:
    sink = lines if lines is not None else []
    return ImageBuilder(target, home=home, say=sink.append)


def test_cpu_recipe_builds_then_is_reused_without_an_instance(emulator, local_target, tmp_path, instance_creations):
    lines: list[str] = []
    recipe = load_recipe(ROOT / "images" / "cpu.yaml")
    first = builder(local_target, tmp_path, lines).build(recipe)
    assert not first.reused
    assert first.image.status == "available" and first.image.id.startswith("private/")
    assert first.record.status == "succeeded" and first.record.builder_deleted is True
    assert first.record.estimated_usd and first.record.billed_hours == 1
    assert emulator.backend.instances.list_instances() == []
    log = "\n".join(lines)
    # what a sandbox cannot do is said, not dropped
    assert "skipped on the local target: apt install python3-venv" in log
    assert "torch 2.13.0" in log  # the first smoke test's output, streamed
    log_file = tmp_path / "images" / "builds" / f"{first.record.build_id}.log"
    assert "smoke: python -c" in log_file.read_text()

    created = instance_creations()
    again = builder(local_target, tmp_path).build(recipe)
    assert again.reused and again.image.id == first.image.id
    assert again.record.status == "reused"
    assert instance_creations() == created, "a cache hit must not create an instance"


def test_image_boots_and_runs_stager(emulator, local_target, tmp_path, write_recipe):
    """An instance made from the image runs the image's own stager (the venv survives the move)."""
    from stager.cloud import InstanceSpec, resource_label, stager_tags
    from stager.image.layout import InstanceLayout
    from stager.remote import Remote, SshTarget, host_key_cloud_config, new_key_pair

    recipe = load_recipe(write_recipe('smoke: ["python -m stager --version"]\n', name="boot", stager="wheel"))
    image = builder(local_target, tmp_path).build(recipe).image
    cloud = local_target.cloud
    client, host = new_key_pair(), new_key_pair()
    from datetime import timedelta

    spec = InstanceSpec(label=resource_label("t1", "check"), plan="g6-nanode-1", region="us-east", image=image.id,
                        authorized_keys=(client.public_line,), tags=stager_tags("t1", timedelta(hours=1)),
                        user_data=host_key_cloud_config(host))
    instance = cloud.create_instance(spec)
    try:
        instance = cloud.wait_instance(instance.id, "running", timeout=20)
        with Remote(SshTarget(instance.ipv4, instance.ssh_port, "root", host.public_line, client)) as remote:
            remote.wait_until_ready(timeout=20)
            root = remote.run('printf %s "$STAGER_SANDBOX"', stream=False).stdout
            layout = InstanceLayout(root=root, sandboxed=True)
            out = remote.run(f"{layout.python} -m stager --version", stream=False).stdout
            where = remote.run(f"{layout.python} -c 'import stager; print(stager.__file__)'", stream=False).stdout
    finally:
        cloud.delete_instance(instance.id)
    assert out.strip().startswith("stager ")
    assert where.strip().startswith(root), "the image's own stager, not the controller's"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('run: ["echo preparing; echo broken >&2; exit 3"]\n', ["`echo preparing; echo broken >&2; exit 3`",
                                                                "exited with 3", "broken"]),
        ('smoke: ["test -e /nonexistent-stager-file"]\n', ["smoke test", "exited with 1"]),
    ],
    ids=["step", "smoke"],
)
def test_failing_command_names_itself_and_leaves_nothing(emulator, local_target, tmp_path, write_recipe, body, words):
    recipe = load_recipe(write_recipe(body))
    with pytest.raises(BuildFailed) as caught:
        builder(local_target, tmp_path).build(recipe)
    message = str(caught.value)
    for word in words:
        assert word in message
    assert "\n" not in message
    assert emulator.backend.instances.list_instances() == []
    assert local_target.cloud.list_images(tag="stager") == []


@pytest.mark.parametrize("fault", ["boot_timeout", "boot_failure", "capture_failure", "capture_timeout"])
def test_cloud_failures_leave_nothing(emulator, local_target, tmp_path, write_recipe, fault):
    body = 'run: ["true"]\ntimeouts: {boot: 0.3, capture: 0.3}\n' if "timeout" in fault else 'run: ["true"]\n'
    recipe = load_recipe(write_recipe(body))
    if fault == "boot_timeout":
        emulator.faults.boot_s = 2
    elif fault == "boot_failure":
        emulator.faults.failing_boots = 1
    elif fault == "capture_failure":
        emulator.faults.failing_captures = 1
    else:
        emulator.faults.capture_s = 2
    build = builder(local_target, tmp_path)
    with pytest.raises(JobFailed):
        build.build(recipe)
    records = build.store.all()
    assert records[-1].status == "failed" and records[-1].builder_deleted is True
    assert emulator.backend.instances.list_instances() == []
    assert [i for i in local_target.cloud.list_images(tag="stager") if i.status != "deleted"] == []


def test_force_rebuilds(emulator, local_target, tmp_path, write_recipe):
    recipe = load_recipe(write_recipe('run: ["true"]\n'))
    first = builder(local_target, tmp_path).build(recipe)
    forced = builder(local_target, tmp_path).build(recipe, force=True)
    assert not forced.reused and forced.image.id != first.image.id
    assert forced.recipe_hash == first.recipe_hash


def test_unknown_builder_plan_is_a_located_config_error(emulator, local_target, tmp_path, write_recipe,
                                                       instance_creations):
    from stager.errors import ConfigError

    path = write_recipe('run: ["true"]\n')
    path.write_text(path.read_text().replace("g6-nanode-1", "g6-nanode-2"))
    with pytest.raises(ConfigError) as caught:
        builder(local_target, tmp_path).build(load_recipe(path))
    assert caught.value.field == "builder.type" and caught.value.line == 3
    assert "did you mean `g6-nanode-1`" in str(caught.value)
    assert instance_creations() == 0
