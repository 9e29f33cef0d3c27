"""A run's training instance: created from the gold image, trained on, emptied of its results.

- `provision` creates it behind the run's firewall with the run's keys, waits for
  it to run and answer SSH with the pinned host key, and tries a fresh instance
  once when a boot fails.
- `train` uploads the trainer config and the run's scoped key, starts the job
  detached (so a dropped connection loses nothing) or re-attaches to it, and
  follows its log until it ends, checking the budget as it goes.
- `collect_outputs` packs the trainer's ``out/`` on the instance, downloads it
  (sha256-verified) and unpacks it safely into the run folder.
"""

from __future__ import annotations

import os
import posixpath
import tempfile
from collections.abc import Callable
from contextlib import nullcontext
from datetime import datetime, timedelta
from pathlib import Path

from stager.cloud import InstanceInfo, InstanceSpec
from stager.cloud.errors import CapacityError, CloudError, CloudTimeout
from stager.cloud.tags import resource_label, stager_tags
from stager.cloud.teardown import delete_instance_surely
from stager.remote import Remote, SshTarget, host_key_cloud_config
from stager.remote.quoting import command, quote
from stager.run.access import RunAccess
from stager.run.fleet import CreateGate
from stager.run.job import (
    CONFIG_FILE,
    HOME_DIR,
    JOB_FILE,
    JOB_NAME,
    OUTPUT_DIR,
    InstanceJob,
    credentials_yaml,
    job_command,
)

__all__ = ["BOOT_ATTEMPTS", "collect_outputs", "provision", "train"]

BOOT_ATTEMPTS = 2  # a failed boot is retried once on a fresh instance; twice is not bad luck


def provision(cloud, *, run_id: str, plan: str, region: str, image_id: str, access: RunAccess, ttl: datetime,
              boot_timeout: float, record: Callable[[InstanceInfo], None], forget: Callable[[int], None],
              say: Callable[[str], None], role: str = "gpu", private_ip: bool = False,
              gate: CreateGate | None = None) -> InstanceInfo:
    """Create the run's instance (labelled by ``role``) and wait until it runs.

    ``record`` is called as soon as the instance exists (before waiting: a boot
    can hang, the instance is billed all the same); ``forget`` after a failed
    boot's instance has been deleted. ``private_ip``: give it a private address too (the nodes of a
    multi-node run talk over it). ``gate``: each creation passes it (`stager.run.fleet`, booting nodes at once).

    Raises:
        CapacityError: no capacity for the plan (with the alternatives).
        CloudError: the boots failed ``BOOT_ATTEMPTS`` times, or the API failed.
        Interrupted: the gate closed before a creation.
    """
    last: Exception | None = None
    for attempt in range(BOOT_ATTEMPTS):
        label = resource_label(run_id, role, attempt)
        spec = InstanceSpec(label=label, plan=plan, region=region, image=image_id,
                            authorized_keys=(access.client_key.public_line,), tags=stager_tags(run_id, ttl),
                            user_data=host_key_cloud_config(access.host_key), firewall_id=access.firewall_id,
                            private_ip=private_ip)
        with gate.creating() if gate is not None else nullcontext():
            info = cloud.create_instance(spec)
            record(info)
        say(f"instance {info.id} ({label}, {plan} in {region}) created from {image_id}")
        try:
            return cloud.wait_instance(info.id, "running", timeout=boot_timeout)
        except CapacityError:
            raise
        except (CloudTimeout, CloudError) as exc:
            last = exc
            say(f"instance {info.id} did not boot ({exc}); deleting it"
                + ("; trying a fresh one" if attempt + 1 < BOOT_ATTEMPTS else ""))
            if delete_instance_surely(cloud, label=label, instance_id=info.id, role="training", say=say):
                forget(info.id)
    raise CloudError(f"the training instance failed to boot {BOOT_ATTEMPTS} times; last: {last}")


def mount_volumes(remote: Remote, layout, volumes: list, *, say: Callable[[str], None]) -> dict[str, str]:
    """Mount each attached dataset volume read-only at ``/mnt/<label>``; return label -> the path commands use.

    On the local target the emulator shows an attached volume at ``/mnt/<label>`` in the sandbox already;
    on Linode it is a block device (formatted when its dataset was synced), mounted here.
    """
    mounts = {}
    for volume in volumes:
        mount = layout.path(f"/mnt/{volume.label}")
        if not layout.sandboxed:
            device = f"/dev/disk/by-id/scsi-0Linode_Volume_{volume.label}"
            remote.run("\n".join([
                f"i=0; while [ ! -b {quote(device)} ] && [ $i -lt 120 ]; do sleep 1; i=$((i+1)); done",
                f"mkdir -p {quote(mount)}",
                f"mountpoint -q {quote(mount)} || mount -o ro {quote(device)} {quote(mount)}",
            ]), stream=False, display=f"mount volume {volume.label} read-only")
        remote.run(command("test", "-d", mount), stream=False, display=f"check volume {volume.label} is there")
        say(f"volume {volume.label} mounted at {mount}")
        mounts[volume.label] = mount
    return mounts


def ssh_target(info: InstanceInfo, access: RunAccess) -> SshTarget:
    return SshTarget(info.ipv4, info.ssh_port, "root", access.host_key.public_line, access.client_key)


def _put_secret(remote: Remote, text: str, remote_path: str) -> None:
    """Upload ``text`` as a 0600 file: written locally only inside a private temporary folder, then removed."""
    with tempfile.TemporaryDirectory(prefix="stager-key-") as folder:
        path = Path(folder) / "secret"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        remote.put_file(path, remote_path)


def train(remote: Remote, *, workdir: str, python: str, job: InstanceJob, config_file: Path, access: RunAccess,
          resume_file: Path | None, on_poll: Callable[[], None], reconnect_timeout: float,
          say: Callable[[str], None]) -> int:
    """Start (or re-attach to) the training job and follow it to its end; return its exit code.

    ``config_file`` is the trainer config in the run folder, with ``job.json`` beside it.
    """
    existing = remote.attach(name=JOB_NAME, workdir=workdir)
    if existing is not None and remote.job_status(existing).running:
        say("training is already running on the instance: re-attaching (nothing is started twice)")
        return remote.follow(existing, on_poll=on_poll, reconnect_timeout=reconnect_timeout)
    started = start_job(remote, workdir=workdir, command_line=job_command(job, python), job=job,
                        config_file=config_file, access=access, resume_file=resume_file)
    say(f"training started on the instance (detached job {started.name}, pid {started.pid})")
    return remote.follow(started, on_poll=on_poll, reconnect_timeout=reconnect_timeout)


def start_job(remote: Remote, *, workdir: str, command_line: str, job: InstanceJob, config_file: Path,
              access: RunAccess, resume_file: Path | None):
    """Upload the trainer config, ``job.json``, the run's key and the resume checkpoint, then start
    ``command_line`` as the detached training job; return it (a ``DetachedJob``)."""
    remote.put_file(config_file, posixpath.join(workdir, CONFIG_FILE))
    remote.put_file(config_file.with_name(JOB_FILE), posixpath.join(workdir, JOB_FILE))
    if access.secret_key:
        _put_secret(remote, credentials_yaml(access.access_key, access.secret_key),
                    posixpath.join(workdir, HOME_DIR, "credentials.yaml"))
        remote.run(command("chmod", "700", posixpath.join(workdir, HOME_DIR)), stream=False,
                   display="protect the run's key folder")
    if resume_file is not None and job.resume_from is not None:
        remote.put_file(resume_file, posixpath.join(workdir, job.resume_from))
    return remote.start_detached(command_line, name=JOB_NAME, workdir=workdir)


def stop_training(remote: Remote, workdir: str, say: Callable[[str], None], grace_s: float = 30.0) -> None:
    """Ask the job to stop (SIGTERM; the trainer keeps its last checkpoint), then kill it after ``grace_s``."""
    import time

    job = remote.attach(name=JOB_NAME, workdir=workdir)
    if job is None:
        return
    remote.kill(job, "TERM")
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not remote.job_status(job).running:
            say("training stopped")
            return
        time.sleep(0.5)
    remote.kill(job, "KILL")
    say(f"training killed after not stopping within {grace_s:g} s")


def collect_outputs(remote: Remote, *, workdir: str, dest: Path, say: Callable[[str], None]) -> tuple[Path, str]:
    """Bring the instance's ``out/`` into ``dest`` (verified, safely unpacked); return the archive and its sha256.

    Checkpoints are left out: they come from the outputs bucket, checked against the hashes they were pushed with.
    """
    from stager.run.archive import safe_extract

    archive = posixpath.join(workdir, "outputs.tar.gz")
    out = posixpath.join(workdir, OUTPUT_DIR)
    # Hard links stored as files: safe_extract refuses links of any kind.
    pack = command("tar", "-czf", archive, "--hard-dereference", "--exclude=*.ckpt", "-C", out, ".")
    remote.run(f"{command('mkdir', '-p', out)} && {pack}", stream=False, display="pack the trainer's outputs")
    local = dest.parent / "logs" / "outputs.tar.gz"
    digest = remote.get_file(archive, local)
    safe_extract(local, dest)
    say(f"outputs unpacked into {dest} (archive sha256 {digest[:16]}...)")
    return local, digest


def ttl_for(max_hours: float) -> timedelta:
    """How long a run's resources may live before ``stager gc`` takes them: the time limit plus an hour."""
    return timedelta(hours=max_hours + 1)
