"""`ImageBuilder`: a recipe in, a gold image out, and never a builder left behind.

The build: hash the recipe; reuse an available image carrying that hash (no
instance is created); otherwise create a builder on the recipe's cheap plan
with a host key stager generated (pinned, never trusted on first use), run the
steps over SSH with streamed logs, run the smoke tests, check the disk against
Linode's 6 GB custom-image limit, shut down, capture, wait until the image is
available, and delete the builder. The builder is deleted on every path out:
success, a failing step, a boot timeout, a failed capture, Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from stager.cloud import CloudError, CloudTarget, ImageInfo, InstanceSpec, resource_label, stager_tags
from stager.cloud.teardown import delete_instance_surely
from stager.errors import Interrupted, JobFailed, StagerError
from stager.image.fingerprint import fingerprint, hash_tag
from stager.image.layout import InstanceLayout, detect_layout
from stager.image.recipe import Recipe
from stager.image.records import BuildRecord, BuildStore, new_build_id
from stager.image.steps import Step, disk_usage_command, plan_steps
from stager.image.wheel import StagerWheel
from stager.interrupts import interruptible, shielded
from stager.remote import Remote, RemoteCommandFailed, RemoteError, SshTarget, host_key_cloud_config, new_key_pair
from stager.suggest import did_you_mean

__all__ = ["MAX_IMAGE_BYTES", "BuildFailed", "BuildResult", "ImageBuilder"]

MAX_IMAGE_BYTES = 6 * 1024**3  # Linode's limit for one custom image
_SHUTDOWN_TIMEOUT = 300.0


class BuildFailed(JobFailed):
    """The build ran and failed; the builder was deleted."""


@dataclass(frozen=True)
class BuildResult:
    image: ImageInfo
    recipe_hash: str
    reused: bool  # True when an existing image was found and nothing was built
    record: BuildRecord


class ImageBuilder:
    """Builds recipes into images on one target.

    ``say`` receives every line meant for the user (progress and the builder's
    streamed output); the same lines go to the build's log file.
    """

    def __init__(self, target: CloudTarget, *, home: Path, say: Callable[[str], None] = print) -> None:
        self.target = target
        self.cloud = target.cloud
        self.store = BuildStore(home)
        self._say = say
        self._log_path: Path | None = None

    def find_image(self, digest: str) -> ImageInfo | None:
        """The newest available image carrying ``digest``, or None."""
        images = [i for i in self.cloud.list_images(tag=hash_tag(digest)) if i.status == "available"]
        images.sort(key=lambda i: i.created or datetime.min.replace(tzinfo=timezone.utc))
        return images[-1] if images else None

    def build(self, recipe: Recipe, *, force: bool = False) -> BuildResult:
        """Reuse or build the image of ``recipe``.

        Raises:
            ConfigError: the builder's plan or region does not exist on this target.
            BuildFailed: a step, smoke test, boot, capture or size check failed.
            CapacityError, CloudError, CredentialsError: from the cloud.
            Interrupted: Ctrl-C or SIGTERM; the builder was deleted first.
        """
        digest, wheel = fingerprint(recipe)
        record = BuildRecord(build_id=new_build_id(), recipe=str(recipe.path), recipe_name=recipe.name,
                             recipe_hash=digest, target=self.target.name)
        self._log_path = self.store.log_path(record.build_id)
        started = time.monotonic()
        if not force:
            existing = self.find_image(digest)
            if existing is not None:
                self._finish(record, started, "reused", image=existing)
                self.say(f"image {existing.id} ({existing.label}) already holds recipe {digest[:12]}: reused")
                return BuildResult(existing, digest, True, record)
        self._check_builder(recipe)
        record.builder_plan, record.builder_region = recipe.builder_type, recipe.builder_region
        self.store.save(record)
        self.say(f"building {recipe.path} (recipe {digest[:12]}) on {self.target.name} as build {record.build_id}")
        try:
            with interruptible():
                image = self._build(recipe, wheel, digest, record)
        except KeyboardInterrupt:
            self._finish(record, started, "aborted", error="interrupted")
            raise Interrupted("build interrupted; the builder instance was deleted") from None
        except StagerError as exc:
            self._finish(record, started, "failed", error=str(exc))
            if isinstance(exc, BuildFailed):
                raise
            raise BuildFailed(f"image build failed: {exc}") from exc
        self._finish(record, started, "succeeded", image=image)
        self.say(f"image {image.id} ({image.label}, {image.size_mb} MB) is available; build log: {self._log_path}")
        return BuildResult(image, digest, False, record)

    def say(self, line: str) -> None:
        self._say(line)
        if self._log_path is not None:
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self._log_path, "a", encoding="utf-8") as log:
                log.write(f"[stager] {line}\n")

    # -- the build itself -------------------------------------------------------

    def _build(self, recipe: Recipe, wheel: StagerWheel | None, digest: str, record: BuildRecord) -> ImageInfo:
        client_key, host_key = new_key_pair(f"stager-{record.build_id}"), new_key_pair("stager-host")
        label = resource_label(record.build_id, "builder")
        total = recipe.timeouts.boot + recipe.timeouts.step * (len(recipe.run) + len(recipe.smoke) + 4) \
            + recipe.timeouts.capture
        spec = InstanceSpec(
            label=label, plan=recipe.builder_type, region=recipe.builder_region, image=recipe.base,
            authorized_keys=(client_key.public_line,),
            tags=stager_tags(record.build_id, timedelta(seconds=total) + timedelta(hours=1)),
            user_data=host_key_cloud_config(host_key),
        )
        image_id: str | None = None
        try:
            instance = self.cloud.create_instance(spec)
            record.builder_instance = instance.id
            self.store.save(record)
            self.say(f"builder {label} (instance {instance.id}, {spec.plan} in {spec.region}) "
                     f"created from {spec.image}")
            booted = time.monotonic()
            instance = self.cloud.wait_instance(instance.id, "running", timeout=recipe.timeouts.boot)
            ssh = SshTarget(instance.ipv4, instance.ssh_port, "root", host_key.public_line, client_key)
            with Remote(ssh, log_file=self._log_path, on_line=self._say) as remote:
                remote.wait_until_ready(timeout=max(1.0, recipe.timeouts.boot - (time.monotonic() - booted)))
                self.say(f"SSH to {instance.ipv4} answers with the pinned host key")
                layout = self._layout(remote)
                with tempfile.TemporaryDirectory(prefix="stager-wheel-") as folder:
                    wheel_path = wheel.write(Path(folder)) if wheel else None
                    for step in plan_steps(recipe, layout, wheel_path):
                        self._run_step(remote, step, recipe)
                self._check_disk(remote, layout)
            self.say("shutting the builder down for capture")
            self.cloud.shutdown_instance(instance.id, timeout=_SHUTDOWN_TIMEOUT)
            image = self.cloud.capture_image(
                instance.id, label=f"stager-{recipe.name}-{digest[:12]}",
                description=f"stager gold image {recipe.name}; recipe sha256 {digest}; build {record.build_id}",
                tags=("stager", hash_tag(digest), f"build:{record.build_id}"),
            )
            image_id = image.id
            self.say(f"capturing image {image.id}")
            image = self.cloud.wait_image(image.id, timeout=recipe.timeouts.capture)
            image_id = None  # available: keep it
            return image
        finally:
            with shielded(lambda name: self._say(f"{name} received: still deleting the builder, please wait")):
                record.builder_deleted = self._teardown(label, record.builder_instance, image_id)
                self.store.save(record)

    def _run_step(self, remote: Remote, step: Step, recipe: Recipe) -> None:
        if step.command is None:
            self.say(f"skipped on the {self.target.name} target: {step.title} ({step.skipped})")
            return
        self.say(f"{step.phase}: {step.title}")
        for upload in step.uploads:
            remote.put_file(upload.local, upload.remote)
        try:
            remote.run(step.command, timeout=recipe.timeouts.step, display=_display(step))
        except RemoteCommandFailed as exc:
            what = "smoke test" if step.phase == "smoke" else "step"
            tail = " | ".join(exc.tail[-5:]) or "(no output)"
            raise BuildFailed(f"{recipe.path}: {what} `{_display(step)}` exited with {exc.exit_code}; "
                              f"last output: {tail}") from None

    def _layout(self, remote: Remote) -> InstanceLayout:
        try:
            return detect_layout(remote, self.target.sandboxed)
        except RemoteError as exc:
            raise BuildFailed(str(exc)) from None

    def _check_disk(self, remote: Remote, layout: InstanceLayout) -> None:
        out = remote.run(disk_usage_command(layout), stream=False, display="measure the disk").stdout.strip()
        try:
            used = int(out.split()[-1])
        except (ValueError, IndexError):
            raise BuildFailed(f"could not measure the builder's disk (got {out[:80]!r})") from None
        self.say(f"disk holds {_size(used)} (a custom image may hold at most 6 GB)")
        if used > MAX_IMAGE_BYTES:
            raise BuildFailed(f"the builder's disk holds {used / 1024**3:.2f} GB, over Linode's 6 GB limit for a "
                              "custom image; install fewer packages or clean caches in `run`")

    def _check_builder(self, recipe: Recipe) -> None:
        plans = {p.id: p for p in self.cloud.plans()}
        if recipe.builder_type not in plans:
            raise recipe.error("builder.type", f"unknown plan `{recipe.builder_type}`",
                               did_you_mean(recipe.builder_type, plans) or "a cheap CPU plan such as g6-standard-2")
        regions = self.cloud.regions()
        if recipe.builder_region not in regions:
            raise recipe.error("builder.region", f"unknown region `{recipe.builder_region}`",
                               did_you_mean(recipe.builder_region, regions) or "e.g. us-east")
        if plans[recipe.builder_type].gpus:
            self.say(f"note: the builder plan {recipe.builder_type} has GPUs; a CPU plan builds the same image "
                     "for a fraction of the price")

    # -- teardown -----------------------------------------------------------------

    def _teardown(self, label: str, instance_id: int | None, unfinished_image: str | None) -> bool:
        """Delete the builder (found by label if its create never returned) and a half-made image."""
        if unfinished_image is not None:
            try:
                self.cloud.delete_image(unfinished_image)
            except CloudError as exc:
                self.say(f"could not delete the unfinished image {unfinished_image}: {exc}")
        return delete_instance_surely(self.cloud, label=label, instance_id=instance_id, role="builder",
                                      say=self.say)

    def _finish(self, record: BuildRecord, started: float, status: str, *, image: ImageInfo | None = None,
                error: str | None = None) -> None:
        record.status = status
        record.finished = datetime.now(timezone.utc).isoformat(timespec="seconds")
        record.duration_s = round(time.monotonic() - started, 3)
        record.error = error
        if image is not None:
            record.image_id, record.image_size_mb = image.id, image.size_mb
        if record.builder_instance is not None and record.builder_plan:
            record.billed_hours = max(1, math.ceil(record.duration_s / 3600))
            try:
                hourly = self.cloud.plan(record.builder_plan).hourly_in(record.builder_region or "")
                record.estimated_usd = round(record.billed_hours * hourly, 4)
            except StagerError:
                record.estimated_usd = None
        self.store.save(record)


def _display(step: Step) -> str:
    """What logs and errors show for a step: the recipe's own line for run and smoke."""
    if step.phase == "smoke":
        return step.title
    if step.title.startswith("run: "):
        return step.title[len("run: "):]
    return step.command or step.title


def _size(nbytes: int) -> str:
    return f"{nbytes / 1024**3:.2f} GB" if nbytes >= 1024**3 else f"{nbytes / 1024**2:.0f} MB"
