"""Sprint files: experiments expanded from a grid, a random sweep or a list, every field checked where written."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from stager.errors import ConfigError
from stager.sprint.spec import Window, load_sprint
from stager.sprint.sweep import apply_overrides, expand_grid, sample_random, set_path

REPO = Path(__file__).resolve().parents[3]


def _write(tmp_path: Path, sprint: dict, **top) -> Path:
    doc = yaml.safe_load((REPO / "pipelines" / "exp.yaml").read_text())
    doc["image"] = str(REPO / "images" / "cpu.yaml")
    doc["data"]["mnist"]["path"] = str(tmp_path / "mnist")
    doc.update(top)
    doc["sprint"] = sprint
    path = tmp_path / "sprint.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _error(tmp_path: Path, sprint: dict) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_sprint(_write(tmp_path, sprint))
    return caught.value


def test_the_shipped_sprint_is_eight_mnist_experiments_planned_for_rtx6000_plans():
    sprint = load_sprint(REPO / "pipelines" / "sprint.yaml")
    assert len(sprint.experiments) >= 8
    assert sprint.pipeline.target == "local"
    assert sprint.plans == ("g1-gpu-rtx6000-1", "g1-gpu-rtx6000-2")
    assert sprint.schedule and sprint.halving is not None
    hidden = {sprint.configs[e.name]["model"]["init_args"]["hidden"] for e in sprint.experiments}
    assert hidden == {64, 128}
    assert sprint.pipeline.train.config["model"]["init_args"]["hidden"] == 128  # the base is left alone


def test_a_grid_is_every_combination_the_first_parameter_slowest():
    assert expand_grid({"a": [1, 2], "b": ["x", "y"]}) == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"},
                                                           {"a": 2, "b": "x"}, {"a": 2, "b": "y"}]


def test_a_random_sweep_is_reproducible_by_its_seed_and_stays_in_range():
    space = {"lr": ("log_uniform", [1e-4, 1e-2]), "hidden": ("choice", [32, 64]), "epochs": ("int_uniform", [1, 3]),
             "dropout": ("uniform", [0.0, 0.5])}
    first, again, other = (sample_random(space, 20, seed) for seed in (7, 7, 8))
    assert first == again and first != other
    assert all(1e-4 <= d["lr"] <= 1e-2 and d["hidden"] in (32, 64) and d["epochs"] in (1, 2, 3)
               and 0 <= d["dropout"] <= 0.5 for d in first)


def test_overrides_set_nested_values_and_list_items_without_touching_the_base():
    base = {"trainer": {"callbacks": [{"init_args": {"patience": 3}}]}, "model": {"init_args": {"lr": 0.1}}}
    changed = apply_overrides(base, {"trainer.callbacks.0.init_args.patience": 5, "model.init_args.lr": 0.2,
                                     "data.init_args.batch_size": 32})
    assert changed["trainer"]["callbacks"][0]["init_args"]["patience"] == 5
    assert changed["data"] == {"init_args": {"batch_size": 32}}
    assert base["model"]["init_args"]["lr"] == 0.1
    with pytest.raises(ValueError, match="index it with 0-0"):
        set_path(changed, "trainer.callbacks.3.init_args", {})


def test_list_experiments_keep_their_names_and_priority_orders_them(tmp_path):
    sprint = load_sprint(_write(tmp_path, {
        "experiments": {"list": [{"name": "small", "set": {"model.init_args.hidden": 32}},
                                 {"set": {"model.init_args.hidden": 64}},
                                 {"name": "wide", "set": {"model.init_args.hidden": 256}}]},
        "priority": ["wide", {"model.init_args.hidden": 64}]}))
    names = [e.name for e in sprint.experiments]
    assert names == ["small", "e02", "wide"]
    assert [sprint.priority_of(e) for e in sprint.experiments] == [2, 1, 0]
    assert sprint.experiment_pipeline("wide").train.config["model"]["init_args"]["hidden"] == 256


def test_deadline_window_and_schedule_are_read(tmp_path):
    sprint = load_sprint(_write(tmp_path, {"experiments": {"grid": {"model.init_args.hidden": [32]}},
                                           "deadline": "90m", "window": {"start": "22:00", "end": "06:00"},
                                           "schedule": "30 22 * * 1-5"}))
    assert sprint.deadline == timedelta(minutes=90)
    assert sprint.window == Window(time(22, 0), time(6, 0))
    start = datetime(2026, 11, 23, 23, 0, tzinfo=timezone.utc)
    assert sprint.deadline_at(start) == start + timedelta(minutes=90)  # earlier than the window's end
    assert sprint.window.contains(start) and not sprint.window.contains(start.replace(hour=12))
    assert sprint.window.next_start(start.replace(hour=12)) == start.replace(hour=22)


@pytest.mark.parametrize("sprint, field, words", [
    ({"experiments": {"grid": {"model.init_args.hiden": [1, 2]}}}, "sprint.experiments.grid.model.init_args.hiden",
     "no argument `hiden`"),
    ({"experiments": {"grid": {"model.init_args.hidden": [64, "wide"]}}},
     "sprint.experiments.grid.model.init_args.hidden", "expected an integer"),
    ({"experiments": {"grid": {"modle.init_args.hidden": [1]}}}, "sprint.experiments.grid.modle.init_args.hidden",
     "not a section of the train config"),
    ({"experiments": {"sweep": {}}}, "sprint.experiments.sweep", "unknown key"),
    ({"experiments": {"random": {"count": 4, "space": {"model.init_args.lr": {"log_uniform": [0, 1]}}}}},
     "sprint.experiments.random.space.model.init_args.lr.log_uniform", "above 0"),
    ({"experiments": {"list": [{"name": "a"}, {"name": "a"}]}}, "sprint.experiments.list.1.name", "named twice"),
    ({"experiments": {"grid": {"model.init_args.hidden": [32]}}, "plans": ["g1-gpu-rtx6000-9"]},
     "sprint.plans.0", "unknown plan"),
    ({"experiments": {"grid": {"model.init_args.hidden": [32]}}, "priority": ["e99"]}, "sprint.priority.0",
     "no experiment is named"),
    ({"experiments": {"grid": {"model.init_args.hidden": [32]}}, "deadline": "soon"}, "sprint.deadline",
     "neither a duration nor a time"),
    ({"experiments": {"grid": {"model.init_args.hidden": [32]}}, "schedule": "0 25 * * *"}, "sprint.schedule",
     "25"),
    ({"experiments": {"grid": {"model.init_args.hidden": [32]}}, "halving": {"metric": "val_loss", "keep": 1.5}},
     "sprint.halving.keep", "fraction"),
    ({"experiments": {"grid": {"model.init_args.hidden": [32]}}, "budget": 3}, "sprint.budget", "unknown key"),
])
def test_every_mistake_names_the_file_line_and_field(tmp_path, sprint, field, words):
    error = _error(tmp_path, sprint)
    assert error.field == field and words in str(error), str(error)
    assert error.file and error.file.endswith("sprint.yaml") and error.line is not None


def test_a_pipeline_without_a_sprint_section_is_refused_with_the_command_to_run_it(tmp_path):
    doc = yaml.safe_load((REPO / "pipelines" / "exp.yaml").read_text())
    doc["image"] = str(REPO / "images" / "cpu.yaml")
    path = tmp_path / "single.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match="stager run"):
        load_sprint(path, check_train=False)


def test_a_multi_node_sprint_is_planned_on_groups_that_pay_for_every_node(tmp_path):
    from stager.cost.prices import offline_prices
    from stager.sprint.plan import make_sprint_plan

    doc = yaml.safe_load((REPO / "pipelines" / "exp.yaml").read_text())
    grid = {"model.init_args.lr": [0.01, 0.02, 0.03, 0.04]}
    path = _write(tmp_path, {"experiments": {"grid": grid}, "plans": ["g1-gpu-rtx6000-2"]},
                  compute={**doc["compute"], "type": "g1-gpu-rtx6000-2", "nodes": 3},
                  budget={"max_usd": 500, "max_hours": 2, "expected_hours": 0.4})
    sprint = load_sprint(path, check_train=False)
    prices = offline_prices()
    price = prices.hourly("g1-gpu-rtx6000-2", sprint.pipeline.compute.region)
    plan = make_sprint_plan(sprint, prices=prices, probe=False)
    # Each experiment takes all 3 nodes' GPUs, so a group is one lane: four 0.4 h experiments (plus the
    # 5-minute boot) fill two billed hours of one group, which bills 3 instances.
    [group] = plan.packing.instances
    assert group.gpus == 1 and len(group.placements) == 4
    assert group.hourly_usd == pytest.approx(3 * price) and group.usd == pytest.approx(2 * 3 * price)
    assert plan.naive.total_usd == pytest.approx(4 * 3 * price)  # one 3-node group per experiment
    assert plan.to_json()["plan"]["instances"][0]["nodes"] == 3
    text = "\n".join(plan.describe())
    assert "3 nodes x g1-gpu-rtx6000-2 (2 GPU each)" in text
    assert "1 group(s) of 3 nodes, 2 billed group-hours (6 instance-hours)" in text


def test_a_multi_node_sprint_cannot_budget_fewer_dollars_than_one_group_hour(tmp_path):
    from stager.cost.prices import offline_prices
    from stager.sprint.plan import make_sprint_plan

    doc = yaml.safe_load((REPO / "pipelines" / "exp.yaml").read_text())
    prices = offline_prices()
    price = prices.hourly("g1-gpu-rtx6000-1", doc["compute"]["region"])
    # Two nodes' hour costs 2 x price: a budget of 1.5 x price buys one node's hour, not one group's.
    path = _write(tmp_path, {"experiments": {"grid": {"model.init_args.lr": [0.01, 0.02]}},
                             "plans": ["g1-gpu-rtx6000-1"]},
                  compute={**doc["compute"], "type": "g1-gpu-rtx6000-1", "nodes": 2},
                  budget={"max_usd": round(1.5 * price, 2), "max_hours": 1, "expected_hours": 0.2})
    plan = make_sprint_plan(load_sprint(path, check_train=False), prices=prices, probe=False)
    assert not plan.packing.instances and len(plan.packing.unplaced) == 2
    assert all("over budget" in u.reason for u in plan.packing.unplaced)
