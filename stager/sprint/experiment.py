"""One experiment of a sprint, run on an instance the sprint already holds, as a ledger run of its own.

`ExperimentRuns` is the part of `stager.sprint.runner.SprintRunner` that runs one
experiment on one GPU lane: it records the experiment as a ledger run linked to
the sprint (with the sprint's image and dataset records, its estimate and its
share of the bill), writes its trainer config into ``runs/<run id>/``, trains it
detached on the instance, watches it through the runner's ``_watch`` (budget,
hours, halving), collects its logs, metrics and checkpoints, and records how it
ended. An experiment that never runs is recorded too, as a run that went from
``pending`` to ``aborted`` with the reason.

It relies on the runner's state (``sprint``, ``sprint_plan``, ``ledger``,
``cloud``, ``options``, ``outcomes``, ``rungs``, storage and image facts) and on
`stager.run.engine.RunEngine`'s ``_collect``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path

from stager.errors import StagerError
from stager.ids import new_id
from stager.run.engine import _one_line, _safe
from stager.run.environment import ENVIRONMENT_EVENT, ledger_data
from stager.run.folder import RunFolder
from stager.run.guard import BudgetStop, InstanceLost
from stager.sprint.halving import Verdict

__all__ = ["ExperimentRuns", "Outcome"]


@dataclass
class Outcome:
    """One experiment as the sprint saw it."""

    name: str
    run_id: str | None = None  # its ledger run; None when it never started
    state: str = "queued"  # queued | running | succeeded | failed | aborted
    reason: str | None = None
    instance: int | None = None
    gpu: int | None = None
    started: datetime | None = None  # provider clock
    ended: datetime | None = None
    metrics: dict = field(default_factory=dict)
    halved: Verdict | None = None  # set when successive halving stops it


class ExperimentRuns:
    """Running and recording a sprint's experiments (mixed into `SprintRunner`)."""

    def _run_experiment(self, name: str, inst, gpu: int, access, layouts, mounts) -> None:
        from stager.errors import JobFailed
        from stager.run.job import InstanceJob, config_text, instance_train_config, job_file, remote_workdir
        from stager.run.multinode import nodes_config
        from stager.run.progress import TrainingProgress

        outcome = self.outcomes[name]
        spec = self.sprint.experiment_pipeline(name)
        run_id = new_id("r")
        folder = RunFolder.create(self.options.runs_dir, run_id)

        def say(line: str) -> None:
            self.options.say(f"[{name}] {line}")
            folder.log(line)

        self._open_experiment(name, run_id, folder, spec, inst, gpu)
        outcome.run_id, outcome.instance, outcome.gpu, outcome.state = run_id, inst.info.id, gpu, "running"
        outcome.started = self.cloud.now()
        with self._lock:
            inst.served.append(outcome)
        job = InstanceJob(run_id=run_id, endpoint_url=self.s3_settings.endpoint_url,
                          signing_region=self.s3_settings.region, outputs_bucket=spec.storage.outputs_bucket,
                          datasets=self.dataset_urls,
                          volumes={n: mounts[v.label] for n, v in self.volumes.items()},
                          gpu=gpu if inst.plan.gpus > 1 else None)
        config = instance_train_config(spec.train.config, job, local_paths={d.name: d.path for d in spec.data},
                                       bases=(Path.cwd(), spec.path.parent))
        if len(inst.nodes) > 1:
            config = nodes_config(config, len(inst.nodes))
        config_file = folder.write_text("train.yaml", config_text(config))
        folder.write_json("job.json", job_file(job))
        progress = TrainingProgress(train_log=folder.train_log, metrics=folder.metrics, say=say, echo=False,
                                    on_record=lambda record: self._on_experiment_record(outcome, record))
        workdir = remote_workdir(run_id)
        state, reason, watch = "failed", None, {}
        self.ledger.transition(run_id, "training")
        nodes = [info.id for info in inst.nodes]
        self.ledger.event(run_id, "train.started", {"instance": inst.info.id, "plan": inst.plan.plan, "gpu": gpu,
                                                    "rehearsal": False}
                          | ({"instances": nodes, "nodes": len(nodes)} if len(nodes) > 1 else {}))
        where = f"instance {inst.info.id}, gpu {gpu}" if len(nodes) == 1 else \
            f"{len(nodes)} nodes (instances {', '.join(map(str, nodes))})"
        say(f"training on {where}: {self.sprint.experiment(name).label}")
        check = partial(self._watch, inst, outcome, watch)
        try:
            with contextlib.ExitStack() as stack:
                remotes = _connections(stack, inst, access, folder.remote_log, progress)
                remote = remotes[0]
                if len(remotes) > 1:
                    code, stop = self._train_group(inst, remotes, layouts, job=job, config_file=config_file,
                                                   workdir=workdir, access=access, check=check, say=say)
                else:
                    code, stop = self._train_one(inst, remote, layouts[0], job=job, config_file=config_file,
                                                 workdir=workdir, access=access, check=check, say=say)
                self.ledger.event(run_id, "train.ended", {"exit_code": code, "step": progress.last_step,
                                                          "rehearsal": False, "metrics": progress.final_metrics})
                if code not in (0, None):
                    last = progress.tail[-1] if progress.tail else "(no output)"
                    raise JobFailed(f"training exited with {code} at step {progress.last_step}: {last[:300]}")
                self.ledger.transition(run_id, "collecting")
                self._collect(remote, workdir, run_id=run_id, folder=folder, say=say)
                state, reason = ("succeeded", None) if stop is None else ("aborted", stop)
        except InstanceLost as exc:
            reason = str(exc)
            raise
        except StagerError as exc:
            reason = str(exc)
        except Exception as exc:  # noqa: BLE001 - a bug in one experiment is that experiment's failure
            reason = f"internal error: {type(exc).__name__}: {exc}"
        finally:
            progress.close()
            outcome.metrics = dict(progress.final_metrics)
            self._close_experiment(outcome, state, reason, say)

    def _train_one(self, inst, remote, layout, *, job, config_file, workdir: str, access,
                   check: Callable[[], None], say: Callable[[str], None]) -> tuple[int | None, str | None]:
        """Train one experiment on one GPU lane of ``inst``; its exit code (None when stopped) and why it was
        stopped (None when it was not).

        Raises:
            InstanceLost: the instance is gone; StagerError: training could not be started or followed.
        """
        from stager.run import instance

        try:
            return instance.train(remote, workdir=workdir, python=layout.python, job=job, config_file=config_file,
                                  access=access, resume_file=None, on_poll=check,
                                  reconnect_timeout=self.options.reconnect_timeout, say=say), None
        except BudgetStop as exc:
            say(f"stopping: {exc.reason}")
            instance.stop_training(remote, workdir, say)
            return None, exc.reason
        except StagerError as exc:
            if not isinstance(exc, InstanceLost) and self.cloud.get_instance(inst.info.id) is None:
                raise InstanceLost(f"instance {inst.info.id} disappeared mid-training ({exc})") from None
            raise

    def _open_experiment(self, name: str, run_id: str, folder: RunFolder, spec, inst, gpu: int) -> None:
        experiment = self.sprint.experiment(name)
        folder.write_text("pipeline.yaml", spec.to_redacted_yaml())
        self.ledger.create_run(pipeline=spec.name, pipeline_file=str(spec.path), target=spec.target,
                               spec=spec.to_redacted_dict(), versions=self._versions, git=self._git, run_id=run_id,
                               sprint_id=self.run_id)
        estimate = self.sprint_plan.estimates[name]
        self.ledger.event(run_id, "sprint.experiment", {
            "sprint": self.run_id, "experiment": name, "overrides": dict(experiment.overrides),
            "instance": inst.info.id, "plan": inst.plan.plan, "gpu": gpu, "estimate": estimate.to_json()})
        if self.image_id and self.recipe_hash:
            self.ledger.image(run_id, image_id=self.image_id, recipe_hash=self.recipe_hash)
        for dataset, digest, ok in self.dataset_records:
            self.ledger.dataset(run_id, name=dataset, digest=digest, ok=ok)
        hourly = inst.rented.hourly_usd / max(1, inst.plan.gpus)
        self.ledger.cost(run_id, estimated_usd=round(estimate.hours * hourly, 4))

    def _close_experiment(self, outcome: Outcome, state: str, reason: str | None, say: Callable[[str], None]) -> None:
        if outcome.halved is not None and outcome.halved.stop and state == "aborted":
            reason = outcome.halved.reason
        outcome.ended = _safe(self.cloud.now)
        outcome.state, outcome.reason = state, reason
        try:
            if state == "succeeded":
                self.ledger.transition(outcome.run_id, "tearing_down")
            self.ledger.transition(outcome.run_id, state, reason=_one_line(reason))
        except (ValueError, StagerError) as exc:
            say(f"recording the end failed: {exc}")
        say(f"{state}" + (f": {reason}" if reason else "")
            + (f"; {_metrics_line(outcome.metrics)}" if outcome.metrics else ""))
        self._write_status()

    def _on_experiment_record(self, outcome: Outcome, record: dict) -> None:
        event = record.get("event")
        if (environment := ledger_data(record)) is not None:
            self.ledger.event(outcome.run_id, ENVIRONMENT_EVENT, environment)
        if event == "epoch":
            self.ledger.event(outcome.run_id, "train.epoch",
                              {k: record.get(k) for k in ("epoch", "step", "metrics")})
            # A stopped experiment's later epochs (trained while the stop reaches it) are no rung results.
            if self.rungs is not None and outcome.halved is None and isinstance(record.get("epoch"), int):
                epochs = (self.sprint.configs[outcome.name].get("trainer") or {}).get("max_epochs")
                verdict = self.rungs.report(outcome.name, record["epoch"] + 1, record.get("metrics") or {},
                                            last_epoch=epochs if isinstance(epochs, int) and epochs > 0 else None)
                if verdict is not None:
                    self.ledger.event(outcome.run_id, "sprint.rung", {
                        "epoch": verdict.epoch, "value": verdict.value, "rank": verdict.rank, "peers": verdict.peers,
                        "keep": verdict.keep, "stop": verdict.stop})
                    if verdict.stop:
                        outcome.halved = verdict
        elif event == "checkpoint_pushed":
            self.ledger.event(outcome.run_id, "train.checkpoint", {k: record.get(k) for k in ("key", "size", "sha256")})

    def _never_started(self, name: str, reason: str) -> None:
        """Record an experiment that will not run: a ledger run that goes from pending to aborted."""
        from stager.run.provenance import git_state, versions

        outcome = self.outcomes[name]
        if outcome.run_id is not None:
            return
        spec = self.sprint.experiment_pipeline(name)
        run_id = self.ledger.create_run(
            pipeline=spec.name, pipeline_file=str(spec.path), target=spec.target, spec=spec.to_redacted_dict(),
            versions=getattr(self, "_versions", None) or versions(),
            git=getattr(self, "_git", None) or git_state(spec.path.parent), sprint_id=self.run_id)
        self.ledger.event(run_id, "sprint.experiment", {"sprint": self.run_id, "experiment": name,
                                                        "overrides": dict(self.sprint.experiment(name).overrides)})
        self.ledger.transition(run_id, "aborted", reason=_one_line(reason))
        outcome.run_id, outcome.state, outcome.reason = run_id, "aborted", reason
        self.say(f"[{name}] {reason}")


def _connections(stack: contextlib.ExitStack, inst, access, log_file: Path, progress) -> list:
    """An SSH connection to every node of ``inst``, their lines fed to ``progress`` (as ``[node k]`` for a
    group of nodes, where only node 0's reports count)."""
    from stager.remote import Remote
    from stager.run import instance

    single = len(inst.nodes) == 1
    return [stack.enter_context(Remote(instance.ssh_target(info, access), log_file=log_file,
                                       on_line=progress.line if single else partial(progress.node_line, k)))
            for k, info in enumerate(inst.nodes)]


def _metrics_line(metrics: dict) -> str:
    return " ".join(f"{k} {v:.4g}" for k, v in sorted(metrics.items())[:4])
