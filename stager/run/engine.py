"""``stager run``: one pipeline, from its YAML file to checkpoints on this machine, and nothing left running.

The stages, each a state in the ledger::

    pending -> validating -> syncing -> imaging -> provisioning -> training -> collecting
            -> tearing_down -> succeeded | failed | aborted

Money is spent only from ``provisioning`` on (and by an image build), and
whatever the run created is deleted in a ``finally`` that Ctrl-C and SIGTERM
cannot cut short. Every cloud resource is written to the ledger the moment it
exists, so a teardown that fails, or a controller killed with SIGKILL, leaves a
record ``stager gc`` acts on. The process holds the run's lock while it runs,
which is how ``stager gc`` tells a live run from an orphaned one.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stager.cloud.targets import CloudTarget
from stager.errors import Interrupted, JobFailed, StagerError, UsageError
from stager.ids import new_id
from stager.interrupts import interruptible, shielded
from stager.ledger import Ledger
from stager.ledger.states import RESUMABLE, is_finished
from stager.pipeline import PipelineSpec
from stager.run.access import RunAccess, open_access
from stager.run.environment import ENVIRONMENT_EVENT, ledger_data
from stager.run.folder import RunFolder
from stager.run.guard import BudgetStop, InstanceLost, Rented, RunGuard, billed_usd
from stager.run.job import JOB_FILE, InstanceJob, config_text, instance_train_config, job_file, remote_workdir
from stager.run.plan import RunPlan
from stager.run.teardown import Created, tear_down

__all__ = ["RunEngine", "RunOptions", "RunResult"]

RESUME_FILE = "resume.ckpt"  # the checkpoint a resumed run starts from, in the run's folder on the instance


@dataclass
class RunOptions:
    runs_dir: Path = Path("runs")
    home: Path = Path(".stager")
    resume: str | None = None  # the run id to continue
    rehearse: bool | None = None  # --rehearse; None: the pipeline's `rehearse`
    boot_timeout: float = 900.0  # a GPU instance boots in a few minutes; 15 is a broken one
    reconnect_timeout: float = 120.0  # how long an SSH drop may last before the instance is looked at
    guard_every_s: float = 10.0  # how often the budget and the instance are checked while training
    ssh_from: tuple[str, ...] | None = None  # CIDRs the firewall admits SSH from; None: found when needed
    # Pin this image (`stager runs reproduce`) instead of building or reusing one by recipe hash, and record it
    # with this recipe hash (the one recorded with the image; default: the recipe's hash today).
    image_id: str | None = None
    image_recipe_hash: str | None = None
    opening_events: tuple[tuple[str, dict], ...] = ()  # (kind, data) recorded as soon as the run is
    say: Callable[[str], None] = field(default=lambda line: print(line, file=sys.stderr, flush=True))


@dataclass(frozen=True)
class RunResult:
    run_id: str
    state: str  # succeeded | failed | aborted
    reason: str | None
    folder: Path
    exit_code: int


class _Stop(Exception):
    """Ends the stages early with a final state and reason (a budget stop)."""

    def __init__(self, state: str, reason: str) -> None:
        super().__init__(reason)
        self.state, self.reason = state, reason


class RunEngine:
    ID_KIND = "r"  # the letter a new run id starts with

    def __init__(self, spec: PipelineSpec, target: CloudTarget, ledger: Ledger, plan: RunPlan,
                 options: RunOptions) -> None:
        self.spec = spec
        self.target = target
        self.cloud = target.cloud
        self.ledger = ledger
        self.plan = plan
        self.options = options
        self.run_id = options.resume or new_id(self.ID_KIND)
        self.folder = RunFolder.create(options.runs_dir, self.run_id)
        self.created: list[Created] = []
        self.rented: list[Rented] = []
        self.spent_usd = 0.0  # image build and rehearsal, billed before training
        self.state = "pending"
        self.s3_client = None
        self._s3_close: Callable[[], None] = lambda: None
        self.dataset_urls: dict[str, str] = {}
        self.volumes: dict = {}  # dataset name -> VolumeInfo, with storage.via: volume
        self.image_id: str | None = None
        self.recipe_hash: str | None = None
        self.dataset_records: list[tuple[str, str, bool]] = []  # (name, manifest digest, validation passed)

    # -- the whole run -----------------------------------------------------------------------------

    def run(self) -> RunResult:
        from stager.run.lock import RunLock

        # The lock first: `stager gc` tells a live run from an orphan by it, and two resumes cannot race.
        lock = RunLock(self.run_id, self.options.home)
        lock.acquire()
        try:
            self._open_record()
        except BaseException:
            lock.release()
            raise
        final, reason, code = "failed", None, 1
        try:
            with interruptible():
                self._stages()
            final, code = "succeeded", 0
        except _Stop as stop:
            final, reason, code = stop.state, stop.reason, 1
        except (KeyboardInterrupt, Interrupted) as exc:
            final, reason, code = "aborted", f"interrupted ({exc or 'Ctrl-C'})", 130
        except StagerError as exc:
            final, reason, code = "failed", str(exc), exc.exit_code
        except Exception as exc:  # a bug must still tear down; the message, not the traceback, is kept
            final, reason, code = "failed", f"internal error: {type(exc).__name__}: {exc}", 1
            raise
        finally:
            with shielded(lambda name: self.say(f"{name} received: still tearing down, please wait")):
                final, reason, code = self._finish(final, reason, code)
                lock.release()
        return RunResult(self.run_id, final, reason, self.folder.root, code)

    def say(self, line: str) -> None:
        self.options.say(line)
        self.folder.log(line)

    def _open_record(self) -> None:
        from stager.run.provenance import git_state, versions

        spec = self.spec
        redacted = spec.to_redacted_dict()
        self.folder.write_text("pipeline.yaml", spec.to_redacted_yaml())
        self.folder.write_json("estimate.json", self.plan.estimate.to_dict())
        if self.options.resume:
            self._reopen()
        else:
            self.ledger.create_run(pipeline=spec.name, pipeline_file=str(spec.path), target=spec.target,
                                   spec=redacted, versions=versions(), git=git_state(spec.path.parent),
                                   run_id=self.run_id)
        for kind, data in self.options.opening_events:
            self.ledger.event(self.run_id, kind, data)
        self.ledger.cost(self.run_id, estimated_usd=self.plan.estimate.total_usd)
        self.say(f"run {self.run_id} ({spec.name} on {spec.target}); folder {self.folder.root}")
        self.say(self.plan.estimate.summary())
        self._write_status()

    def _reopen(self) -> None:
        from stager.run.lock import controller_alive

        record = self.ledger.run(self.run_id)  # UsageError when unknown
        if record.pipeline != self.spec.name:
            raise UsageError(f"run {self.run_id} ran pipeline {record.pipeline}, not {self.spec.name}: give its "
                             f"pipeline file ({record.pipeline_file})")
        state = self.ledger.state(self.run_id)
        if not is_finished(state):
            if controller_alive(self.run_id, self.options.home):
                raise UsageError(f"run {self.run_id} is still running in another process")
            self.ledger.transition(self.run_id, "failed", reason="controller stopped without finishing")
            state = "failed"
        if state not in RESUMABLE:
            raise UsageError(f"run {self.run_id} {state}; only a failed or aborted run can be resumed")
        self.ledger.resume(self.run_id, reason="stager run --resume")
        self.state = "resumed"
        self.say(f"resuming run {self.run_id} (it had {state})")

    def _move(self, state: str) -> None:
        self.ledger.transition(self.run_id, state)
        self.state = state
        self.say(f"== {state}")
        self._write_status()

    def _write_status(self, reason: str | None = None) -> None:
        self.folder.write_json("run.json", {
            "run_id": self.run_id, "pipeline": self.spec.name, "target": self.spec.target, "state": self.state,
            "reason": reason, "image": self.image_id, "datasets": self.dataset_urls,
            "resources": [{"kind": c.kind, "id": c.id, "label": c.label} for c in self.created],
            "estimated_usd": self.plan.estimate.total_usd,
        })

    # -- the stages -------------------------------------------------------------------------------

    def _stages(self) -> None:
        spec = self.spec
        self._prepare()
        rehearse = spec.rehearse.enabled if self.options.rehearse is None else self.options.rehearse
        if rehearse:
            self._instance_stage(spec.rehearse.type, rehearsal=True)
        self._instance_stage(spec.compute.type, rehearsal=False)
        self._move("tearing_down")

    def _validate(self) -> list:
        """Validate every dataset (made first by the data module when missing) and record each in the ledger."""
        from stager.run.datasets import fill_missing, validate_all

        self._move("validating")
        fill_missing(self.spec, self.say)
        validated = validate_all(self.spec, home=self.options.home, say=self.say)
        self.dataset_records = [(item.data.name, item.outcome.manifest.digest, item.outcome.report.ok)
                                for item in validated]
        for name, digest, ok in self.dataset_records:
            self.ledger.dataset(self.run_id, name=name, digest=digest, ok=ok)
        return validated

    def _prepare(self) -> None:
        """Everything before an instance: the datasets validated and synced, storage open, the image ready."""
        from stager.run.datasets import sync_all
        from stager.run.nodes import check_nodes

        spec = self.spec
        check_nodes(spec)
        if spec.data:
            validated = self._validate()
            self._move("syncing")
            self._open_storage()
            if spec.storage.via == "volume":
                self._sync_volumes(validated)
            else:
                self.dataset_urls = sync_all(validated, spec, self.s3_client, say=self.say)
        else:
            self._open_storage()
        self._image()

    def _sync_volumes(self, validated) -> None:
        from stager.cost.estimate import STAGING_PLAN
        from stager.run.datasets import sync_volumes

        self.volumes = sync_volumes(validated, self.spec, self.target, run_id=self.run_id, say=self.say)
        self.spent_usd += self._price(STAGING_PLAN)[0]  # the staging instance's one billed hour
        for name, volume in self.volumes.items():
            self.ledger.event(self.run_id, "data.volume", {"dataset": name, "volume": volume.id,
                                                           "label": volume.label})

    def _open_storage(self) -> None:
        from stager.storage.buckets import ensure_bucket
        from stager.storage.credentials import resolve_settings
        from stager.storage.s3 import S3Location, make_client

        settings, self._s3_close = resolve_settings(self.spec.target, S3Location.parse(
            f"s3://{self.spec.storage.bucket}"), home=self.options.home)
        self.s3_settings = settings
        self.s3_client = make_client(settings)
        buckets = [self.spec.storage.outputs_bucket]
        if self.spec.storage.via == "object-storage":
            buckets.insert(0, self.spec.storage.bucket)
        for bucket in buckets:
            ensure_bucket(self.s3_client, bucket, say=self.say)

    def _image(self) -> None:
        from stager.image.builder import ImageBuilder

        if self.options.image_id is not None:
            self._pinned_image(self.options.image_id)
            return
        if self.plan.image_id is None:
            self._move("imaging")
        builder = ImageBuilder(self.target, home=self.options.home, say=self.say)
        result = builder.build(self.spec.image.recipe)
        self.image_id, self.recipe_hash = result.image.id, result.recipe_hash
        if not result.reused:
            self.spent_usd += result.record.estimated_usd or 0.0
        self.ledger.image(self.run_id, image_id=result.image.id, recipe_hash=result.recipe_hash)
        self.say(f"image {result.image.id} ({'reused' if result.reused else 'built'}) for recipe "
                 f"{result.recipe_hash[:16]}...")

    def _pinned_image(self, image_id: str) -> None:
        """Use ``image_id`` as it is: a reproduction must boot the image the original run booted."""
        image = self.cloud.get_image(image_id)
        if image is None or image.status != "available":
            raise UsageError(f"image {image_id} no longer exists on target {self.spec.target} "
                             f"({'gone' if image is None else image.status}), so this run cannot use it")
        self.image_id = image.id
        self.recipe_hash = self.options.image_recipe_hash or self.plan.recipe_hash
        self.ledger.image(self.run_id, image_id=image.id, recipe_hash=self.recipe_hash)
        self.say(f"image {image.id} (pinned) for recipe {self.recipe_hash[:16]}...")

    # -- one instance: provision, train, collect, delete --------------------------------------------

    def _instance_stage(self, plan: str, *, rehearsal: bool) -> None:
        from stager.image.layout import detect_layout
        from stager.remote import Remote
        from stager.run import instance
        from stager.run.progress import TrainingProgress

        spec = self.spec
        if not rehearsal and spec.compute.nodes > 1:  # the rehearsal stays on one instance
            from stager.run.multinode import train_on_nodes

            train_on_nodes(self, plan)
            return
        what = "rehearsal" if rehearsal else "training"
        if self.state != "provisioning":  # a rehearsal is part of provisioning: the GPU instance follows it
            self._move("provisioning")
        hourly, monthly = self._price(plan)
        access = self._access()
        info = instance.provision(
            self.cloud, run_id=self.run_id, plan=plan, region=spec.compute.region, image_id=self.image_id,
            access=access, ttl=_deadline(spec.budget.max_hours), boot_timeout=self.options.boot_timeout,
            record=lambda i: self._created("instance", i.id, i.label, plan=plan, hourly=hourly, monthly=monthly),
            forget=lambda iid: self._deleted("instance", iid), say=self.say,
            role="rehearsal" if rehearsal else "gpu")
        rented = Rented(info.id, info.created or self.cloud.now(), hourly)
        self.rented.append(rented)
        for volume in self.volumes.values():
            self.cloud.attach_volume(volume.id, info.id)
            self.say(f"volume {volume.label} ({volume.id}) attached to instance {info.id}")
        progress = TrainingProgress(train_log=self.folder.train_log, metrics=self.folder.metrics, say=self.say,
                                    dollars=lambda: guard.dollars, on_record=self._on_record)
        guard = RunGuard(self.cloud, [rented], max_usd=spec.budget.max_usd, max_hours=spec.budget.max_hours,
                         spent_before=self.spent_usd + sum(billed_usd([r], self.cloud.now())
                                                           for r in self.rented if r is not rented),
                         every_s=self.options.guard_every_s)
        stop: BudgetStop | None = None
        try:
            with Remote(instance.ssh_target(info, access), log_file=self.folder.remote_log,
                        on_line=progress.line) as remote:
                remote.wait_until_ready(timeout=self.options.boot_timeout)
                self.say(f"SSH to instance {info.id} answers with the pinned host key")
                self.ledger.event(self.run_id, "instance.ready", {"instance": info.id, "plan": plan})
                layout = detect_layout(remote, self.target.sandboxed)
                mounts = instance.mount_volumes(remote, layout, list(self.volumes.values()), say=self.say)
                job = self._job(rehearsal, {name: mounts[v.label] for name, v in self.volumes.items()})
                config_file = self.folder.write_text("rehearsal/train.yaml" if rehearsal else "train.yaml",
                                                     config_text(self._instance_config(job, rehearsal)))
                self.folder.write_json(str(config_file.with_name(JOB_FILE).relative_to(self.folder.root)),
                                       job_file(job))
                resume_file = self._resume_checkpoint() if job.resume_from else None
                if not rehearsal:
                    self._move("training")
                workdir = remote_workdir(self.run_id)
                self.ledger.event(self.run_id, "train.started", {"instance": info.id, "plan": plan,
                                                                 "rehearsal": rehearsal})
                try:
                    code = instance.train(remote, workdir=workdir, python=layout.python, job=job,
                                          config_file=config_file, access=access, resume_file=resume_file,
                                          on_poll=guard.check, reconnect_timeout=self.options.reconnect_timeout,
                                          say=self.say)
                except BudgetStop as exc:
                    stop = exc
                    self.say(f"stopping training: {exc.reason}")
                    instance.stop_training(remote, workdir, self.say)
                    code = None
                except StagerError as exc:
                    if not isinstance(exc, InstanceLost) and self.cloud.get_instance(info.id) is None:
                        raise InstanceLost(f"instance {info.id} disappeared mid-training ({exc})") from None
                    raise
                self.ledger.event(self.run_id, "train.ended", {"exit_code": code, "step": progress.last_step,
                                                               "rehearsal": rehearsal,
                                                               "metrics": progress.final_metrics})
                if code not in (0, None):
                    last = progress.tail[-1] if progress.tail else "(no output)"
                    raise JobFailed(f"{what} exited with {code} at step {progress.last_step}: {last[:300]} "
                                    f"(the whole log: {self.folder.train_log})")
                if not rehearsal:
                    self._move("collecting")
                    self._collect(remote, workdir)
        except InstanceLost as exc:
            raise InstanceLost(f"{exc}; the checkpoints pushed so far are in s3://{spec.storage.outputs_bucket}/"
                               f"runs/{self.run_id}/checkpoints/: continue with `stager run {spec.path} --resume "
                               f"{self.run_id}`") from None
        finally:
            progress.close()
        if rehearsal:
            self.say("rehearsal passed: deleting its instance, renting the training instance")
            self._release_instance(info.id)
            self.spent_usd += billed_usd([rented], self.cloud.now())
            self.rented.remove(rented)
        if stop is not None:
            raise _Stop("aborted", stop.reason)

    def _access(self) -> RunAccess:
        if getattr(self, "_run_access", None) is None:
            storage = self.spec.storage
            self._run_access = open_access(
                self.cloud, run_id=self.run_id, target=self.spec.target, ssh_from=self.options.ssh_from,
                data_bucket=storage.bucket if storage.via == "object-storage" else None,
                outputs_bucket=storage.outputs_bucket, bucket_region=self._bucket_region(),
                tags=_tags(self.run_id, self.spec.budget.max_hours),
                record=lambda kind, rid, label: self._created(kind, rid, label), object_storage=True)
        return self._run_access

    def _bucket_region(self) -> str:
        return self.spec.storage.region if self.spec.target == "linode" else self.s3_settings.region

    def _job(self, rehearsal: bool, volumes: dict[str, str]) -> InstanceJob:
        from stager.run.push import read_index

        resume_from = None
        if not rehearsal and self.options.resume:
            index = read_index(self.s3_client, self.spec.storage.outputs_bucket, f"runs/{self.run_id}/checkpoints")
            if index and index.get("last"):
                resume_from = RESUME_FILE
                self._resume_index = index
        return InstanceJob(run_id=self.run_id, endpoint_url=self.s3_settings.endpoint_url,
                           signing_region=self.s3_settings.region, outputs_bucket=self.spec.storage.outputs_bucket,
                           datasets=self.dataset_urls, resume_from=resume_from, volumes=volumes)

    def _instance_config(self, job: InstanceJob, rehearsal: bool) -> dict:
        config = instance_train_config(self.spec.train.config, job,
                                       local_paths={d.name: d.path for d in self.spec.data},
                                       bases=(Path.cwd(), self.spec.path.parent))
        if rehearsal:
            # fast_dev_run saves no checkpoint, and the trainer refuses checkpoint callbacks beside it.
            config["trainer"]["fast_dev_run"] = True
            config.pop("ckpt_path", None)
            config["trainer"]["callbacks"] = [c for c in config["trainer"]["callbacks"] if not _saves_checkpoints(c)]
        return config

    def _resume_checkpoint(self) -> Path:
        """Download the last pushed checkpoint into the run folder (verified) for the new instance."""
        from stager.run.collect import download_checkpoint

        index = self._resume_index
        entry = index["checkpoints"][index["last"]]
        local = self.folder.checkpoints / "resume" / RESUME_FILE
        download_checkpoint(self.s3_client, self.spec.storage.outputs_bucket, entry, local)
        self.say(f"resuming from s3://{self.spec.storage.outputs_bucket}/{entry['key']} (step {entry.get('step')})")
        return local

    def _collect(self, remote, workdir: str, run_id: str | None = None, folder: RunFolder | None = None,
                 say: Callable[[str], None] | None = None) -> None:
        """Logs, metrics and checkpoints of run ``run_id`` (default this run) into ``folder``, each recorded."""
        from stager.hashing import sha256_file
        from stager.run.collect import pull_checkpoints
        from stager.run.instance import collect_outputs

        run_id, folder, say = run_id or self.run_id, folder or self.folder, say or self.say
        outputs = self.spec.outputs
        if outputs.logs or outputs.metrics:
            archive, digest = collect_outputs(remote, workdir=workdir, dest=folder.outputs, say=say)
            self._artifact(archive, digest, run_id=run_id, folder=folder)
        if outputs.checkpoints:
            for path, location, digest in pull_checkpoints(
                    self.s3_client, self.spec.storage.outputs_bucket, f"runs/{run_id}/checkpoints",
                    folder.checkpoints, say=say):
                self._artifact(path, digest, location, run_id=run_id, folder=folder)
        for path in (folder.train_log, folder.metrics):
            if path.exists():
                self._artifact(path, sha256_file(path), run_id=run_id, folder=folder)

    def _artifact(self, path: Path, digest: str, location: str | None = None, *, run_id: str | None = None,
                  folder: RunFolder | None = None) -> None:
        rel = path.relative_to((folder or self.folder).root).as_posix()
        self.ledger.artifact(run_id or self.run_id, path=rel, location=location or "local",
                             size=path.stat().st_size, sha256=digest)

    def _on_record(self, record: dict) -> None:
        event = record.get("event")
        if (environment := ledger_data(record)) is not None:
            self.ledger.event(self.run_id, ENVIRONMENT_EVENT, environment)
        if event == "epoch":
            self.ledger.event(self.run_id, "train.epoch", {k: record.get(k) for k in ("epoch", "step", "metrics")})
        elif event == "checkpoint_pushed":
            self.ledger.event(self.run_id, "train.checkpoint",
                              {k: record.get(k) for k in ("key", "size", "sha256")})

    # -- resources ------------------------------------------------------------------------------

    def _price(self, plan: str) -> tuple[float, float | None]:
        info = self.cloud.plan(plan)
        return info.hourly_in(self.spec.compute.region), info.monthly_usd

    def _created(self, kind: str, resource_id: int, label: str, *, plan: str | None = None,
                 hourly: float | None = None, monthly: float | None = None) -> None:
        self.created.append(Created(kind, resource_id, label))
        self.ledger.resource_created(self.run_id, kind=kind, provider_id=resource_id, label=label, plan=plan,
                                     region=self.spec.compute.region if kind == "instance" else None,
                                     hourly_usd=hourly, monthly_usd=monthly)
        self._write_status()

    def _deleted(self, kind: str, resource_id: int) -> None:
        self.created = [c for c in self.created if not (c.kind == kind and c.id == resource_id)]
        self.ledger.resource_deleted(self.run_id, kind=kind, provider_id=resource_id)

    def _release_instance(self, instance_id: int) -> None:
        items = [c for c in self.created if c.kind == "instance" and c.id == instance_id]
        tear_down(self.cloud, items, target=self.spec.target, say=self.say,
                  on_deleted=lambda c: self._deleted(c.kind, c.id))

    # -- the end --------------------------------------------------------------------------------

    def _finish(self, final: str, reason: str | None, code: int) -> tuple[str, str | None, int]:
        """Tear everything down, record the cost and the final state; never raises."""
        try:
            if self.state != "tearing_down" and not is_finished(self.state):
                try:
                    self._move("tearing_down")
                except (ValueError, StagerError):
                    pass
            now = _safe(self.cloud.now)
            actual = self.spent_usd + (billed_usd(self.rented, now) if now is not None else 0.0)
            left = tear_down(self.cloud, list(self.created), target=self.spec.target, say=self.say,
                             on_deleted=lambda c: self._deleted(c.kind, c.id))
            if left and final == "succeeded":
                final, code = "failed", 1
                reason = "teardown incomplete: run `stager gc` to delete what is left"
            if left:
                self.ledger.event(self.run_id, "teardown.incomplete",
                                  {"left": [{"kind": c.kind, "id": c.id} for c in left]})
            self.ledger.cost(self.run_id, actual_usd=round(actual, 4))
            self.ledger.transition(self.run_id, final, reason=_one_line(reason))
            self.state = final
            self._write_status(reason)
            self._summary(final, reason, actual)
        except Exception as exc:  # the teardown must not hide the run's own outcome
            self.say(f"recording the end of the run failed: {type(exc).__name__}: {exc}")
        finally:
            self._s3_close()
        return final, reason, code

    def _summary(self, final: str, reason: str | None, actual: float) -> None:
        if final == "succeeded":
            self.say(f"run {self.run_id} succeeded: results in {self.folder.root} "
                     f"(checkpoints/, metrics.jsonl, logs/); cost ${actual:.2f} "
                     f"(estimated ${self.plan.estimate.total_usd:.2f})")
        else:
            self.say(f"run {self.run_id} {final}: {reason}; cost ${actual:.2f}; folder {self.folder.root}")


def _saves_checkpoints(callback: object) -> bool:
    if not isinstance(callback, dict):
        return False
    path = str(callback.get("class_path") or "")
    return "checkpoint" in callback or path.endswith(("ModelCheckpoint", "CheckpointPush"))


def _deadline(max_hours: float):
    from datetime import datetime, timezone

    from stager.run.instance import ttl_for

    return datetime.now(timezone.utc) + ttl_for(max_hours)


def _tags(run_id: str, max_hours: float) -> tuple[str, ...]:
    from stager.cloud.tags import stager_tags

    return stager_tags(run_id, _deadline(max_hours))


def _safe(call):
    try:
        return call()
    except Exception:
        return None


def _one_line(text: str | None) -> str | None:
    if text is None:
        return None
    return " ".join(text.split())[:1000]
