"""The `train:` section of a pipeline: the trainer's own config, checked as `stager train fit` checks it.

The trainer's checker (`stager.train.config.check`) reads its config through a
`Sources`, which locates a field by asking the `YamlDoc` it was read from. Here
that doc is a view of the pipeline's `train:` subtree: its lines are the
pipeline's, keyed relative to `train`, and its errors are reported against the
pipeline file at ``train.<field>``. So a misspelt init argument is reported as
``pipelines/exp.yaml:14: `train.model.init_args.hiden`: ...``.

Checking imports every ``class_path`` (and so torch and the user's modules);
nothing is built.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from stager.errors import ConfigError, UsageError
from stager.pipeline.spec import TrainSpec
from stager.yamlio import YamlDoc

__all__ = ["check_train_section"]

SECTION = "train"
_EXAMPLE = "e.g. train: {model: {class_path: stager.examples.mnist.MLP, init_args: {hidden: 128}}}"


@dataclass
class _SectionDoc(YamlDoc):
    """The ``train`` subtree of a pipeline, looking to the trainer like a file of its own."""

    pipeline: YamlDoc | None = field(default=None, repr=False)

    def error(self, field_path: str, problem: str, hint: str | None = None) -> ConfigError:
        assert self.pipeline is not None
        return self.pipeline.error(f"{SECTION}.{field_path}" if field_path else SECTION, problem, hint)


def _section_lines(lines: dict[str, int], section: str) -> dict[str, int]:
    """The pipeline's field lines under ``section``, keyed relative to it ("" for the section itself)."""
    out = {"": lines[section]} if section in lines else {}
    start = section + "."
    out.update({key[len(start):]: line for key, line in lines.items() if key.startswith(start)})
    return out


def check_train_section(doc: YamlDoc, section: Any, *, check: bool) -> TrainSpec:
    """Check the trainer config written under `train:` of the pipeline ``doc``.

    With ``check`` False only its shape is checked (a mapping), for a machine that
    cannot import the model's code.

    Raises:
        ConfigError: not a mapping; an unknown section; a class path that does not
            import or is not a Module/DataModule/Callback; an init argument unknown,
            missing or of the wrong type; a Trainer argument the Trainer does not
            take. Located in the pipeline at ``train.<field>``.
    """
    if not isinstance(section, dict):
        raise doc.error(SECTION, "expected the trainer's config: a mapping of sections (model, data, trainer...)",
                        hint=_EXAMPLE)
    written = copy.deepcopy(section)
    if not check:
        return TrainSpec(config=written)
    from stager.train.config import check as check_config
    from stager.train.config_overrides import Sources

    view = _SectionDoc(data=copy.deepcopy(section), path=doc.path, lines=_section_lines(doc.lines, SECTION),
                       pipeline=doc)
    try:
        plan = check_config(Sources([view], []))
    except ConfigError as exc:
        if exc.field is None:  # the trainer blames the whole file: that is the train section here
            raise doc.error(SECTION, exc.problem, exc.hint) from None
        raise
    except UsageError as exc:
        raise doc.error(SECTION, str(exc)) from None
    return TrainSpec(config=written, resolved=plan.to_dict())
