"""What a run is about to do, worked out before anything is created: ``stager run --dry-run`` prints it.

The plan reads and creates nothing on the cloud beyond looking up prices and
whether the gold image exists; it never hashes a dataset that is not hashed
already in the cache (it reports what the hash cache and the last manifest
know), so it is as cheap as its answer allows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stager.cost.estimate import CostEstimate, catalogue_prices, estimate_run, prices_from_plans
from stager.errors import StagerError
from stager.pipeline import PipelineSpec

__all__ = ["DataPlan", "RunPlan", "image_facts", "make_plan", "run_prices"]


@dataclass(frozen=True)
class DataPlan:
    name: str
    path: Path
    url: str  # where it is synced to
    files: int | None  # None: the folder does not exist yet (a data module or sources fill it)
    size_bytes: int | None
    note: str  # "unchanged since the last sync", "will be generated on first use", ...


@dataclass(frozen=True)
class RunPlan:
    spec: PipelineSpec
    recipe_hash: str
    image_id: str | None  # the existing gold image for the recipe hash; None: it will be built
    image_note: str
    data: tuple[DataPlan, ...]
    estimate: CostEstimate
    stages: tuple[str, ...] = field(default=())

    def describe(self) -> list[str]:
        spec = self.spec
        lines = [f"run plan for {spec.name} ({spec.path}) on target {spec.target}"]
        lines.append("stages: " + " -> ".join(self.stages))
        image = self.image_id and f"reuse {self.image_id}" or "build it (no image has this hash yet)"
        lines.append(f"image: {spec.image.path.name} recipe sha256 {self.recipe_hash[:16]}...: {image}"
                     + (f" ({self.image_note})" if self.image_note else ""))
        for item in self.data:
            if item.files is None:
                what = "not there yet"
            else:
                what = f"{item.files} file(s), {item.size_bytes / 1024**2:.1f} MB"
            lines.append(f"data {item.name}: {item.path} ({what}) -> {item.url}: {item.note}")
        compute = spec.compute
        lines.append(f"instances: {compute.nodes} x {compute.type} in {compute.region} from the gold image, "
                     f"behind a firewall admitting SSH from this machine only"
                     + (" and all TCP between the nodes (torchrun, c10d rendezvous)" if compute.nodes > 1 else ""))
        lines.append(f"outputs: s3://{spec.storage.outputs_bucket}/runs/<run id>/ (checkpoints pushed as saved)")
        if spec.rehearse.enabled:
            lines.append(f"rehearsal: fast_dev_run on {spec.rehearse.type} before the GPU instances")
        lines.append(f"budget: max ${spec.budget.max_usd:.2f}, max {spec.budget.max_hours:g} h of training")
        lines.append(self.estimate.summary())
        return lines


def stages_of(spec: PipelineSpec, *, build_image: bool) -> tuple[str, ...]:
    stages = ["validating", "syncing"] if spec.data else []
    if build_image:
        stages.append("imaging")
    return ("pending", *stages, "provisioning", "training", "collecting", "tearing_down", "succeeded")


def run_prices(cloud, spec: PipelineSpec) -> tuple[dict[str, float], dict[str, float], str]:
    """Hourly prices and monthly caps: live from ``/linode/types`` when a cloud is open, else offline."""
    if cloud is not None:
        try:
            hourly, monthly = prices_from_plans(cloud.plans(), spec.compute.region)
            return hourly, monthly, "/linode/types"
        except StagerError:
            pass
    hourly, monthly = catalogue_prices()
    return hourly, monthly, "offline catalogue"


def image_facts(spec: PipelineSpec, find_image: Callable[[str], object | None] | None) -> tuple[str, str | None, str]:
    """The recipe's hash, the existing image's id (or None), and a note on how that was found."""
    from stager.image.fingerprint import fingerprint

    digest, _wheel = fingerprint(spec.image.recipe)
    if find_image is None:
        return digest, None, "could not look for an existing image: target not reachable"
    try:
        image = find_image(digest)
    except StagerError as exc:
        return digest, None, f"could not look for an existing image: {exc}"
    return digest, getattr(image, "id", None), ""


def _data_plan(spec: PipelineSpec, home: Path) -> tuple[DataPlan, ...]:
    from stager.run.datasets import volume_label_for
    from stager.storage.manifest import ManifestStore

    store = ManifestStore(home)
    plans = []
    for data in spec.data:
        if spec.storage.via == "volume":
            url = f"volume://{volume_label_for(spec, data)} (in {spec.compute.region}, kept between runs)"
        else:
            url = spec.storage.dataset_url(data.name)
        if not data.path.is_dir() or not any(data.path.iterdir()):
            plans.append(DataPlan(data.name, data.path, url, None, None,
                                  "will be filled on first use (sources, or the data module's prepare_data)"))
            continue
        files = [p for p in data.path.rglob("*") if p.is_file() and not p.name.startswith(".")]
        size = sum(p.stat().st_size for p in files)
        latest = store.latest(data.name)
        note = "validated before" if latest is not None else "never validated: it will be hashed and checked"
        plans.append(DataPlan(data.name, data.path, url, len(files), size, note + "; only changed files are sent"))
    return tuple(plans)


def make_plan(spec: PipelineSpec, *, cloud=None, find_image: Callable[[str], object | None] | None = None,
              home: Path) -> RunPlan:
    """The plan of one run of ``spec``; ``cloud`` gives live prices, ``find_image`` whether the image exists."""
    digest, image_id, note = image_facts(spec, find_image)
    hourly, monthly, source = run_prices(cloud, spec)
    estimate = estimate_run(spec, hourly, build_image=image_id is None, monthly_caps=monthly, prices_from=source)
    return RunPlan(spec, digest, image_id, note, _data_plan(spec, home), estimate,
                   stages_of(spec, build_image=image_id is None))
