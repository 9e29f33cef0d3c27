"""The instance's trainer config and job command, worked out without an instance."""

from __future__ import annotations

import shlex

from stager.run.job import (
    InstanceJob,
    credentials_yaml,
    instance_train_config,
    job_command,
    job_file,
)

JOB = InstanceJob(run_id="r1", endpoint_url="http://127.0.0.1:9000", signing_region="us-east-1",
                  outputs_bucket="out-b", datasets={"mnist": "s3://data-b/datasets/mnist"})


def _config(data_dir: str) -> dict:
    return {"model": {"class_path": "m.M"},
            "data": {"class_path": "d.D", "init_args": {"data_dir": data_dir, "batch_size": 8}},
            "trainer": {"max_epochs": 2, "default_root_dir": "/somewhere/else",
                        "callbacks": [{"checkpoint": {"monitor": "val_loss"}}]}}


def test_dataset_paths_become_the_instance_folders(tmp_path):
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    for written in ("data/mnist", str(folder), "./data/mnist/"):
        out = instance_train_config(_config(written), JOB, local_paths={"mnist": folder}, bases=(tmp_path,))
        assert out["data"]["init_args"]["data_dir"] == "data/mnist"
    other = instance_train_config(_config("data/other"), JOB, local_paths={"mnist": folder}, bases=(tmp_path,))
    assert other["data"]["init_args"]["data_dir"] == "data/other"  # not a dataset of the run: left alone


def test_outputs_callbacks_and_resume(tmp_path):
    config = _config("x")
    out = instance_train_config(config, JOB, local_paths={}, bases=(tmp_path,))
    trainer = out["trainer"]
    assert trainer["default_root_dir"] == "out"
    assert trainer["enable_progress_bar"] is False
    classes = [c.get("class_path") for c in trainer["callbacks"]]
    assert classes[1:] == ["stager.run.push.CheckpointPush", "stager.run.report.MetricsReport"]
    push = trainer["callbacks"][1]["init_args"]
    assert push == {"endpoint_url": "http://127.0.0.1:9000", "bucket": "out-b", "prefix": "runs/r1/checkpoints"}
    assert "ckpt_path" not in out
    assert config["trainer"]["default_root_dir"] == "/somewhere/else"  # the pipeline's own config is not changed
    resumed = instance_train_config(config, InstanceJob(**{**JOB.__dict__, "resume_from": "resume.ckpt"}),
                                    local_paths={}, bases=(tmp_path,))
    assert resumed["ckpt_path"] == "resume.ckpt"


def test_job_command_runs_the_agent_and_holds_no_secret():
    words = shlex.split(job_command(JOB, "/opt/stager/venv/bin/python"))
    assert words[:4] == ["export", "AWS_REGION=us-east-1", "PYTHONUNBUFFERED=1", "STAGER_HOME=.stager"]
    assert words[-4:] == ["/opt/stager/venv/bin/python", "-m", "stager.run.agent", "job.json"]
    assert job_file(JOB) == {"endpoint_url": "http://127.0.0.1:9000", "config": "train.yaml",
                             "datasets": {"data/mnist": "s3://data-b/datasets/mnist"}}


def test_job_command_quotes_hostile_names():
    words = shlex.split(job_command(JOB, "/p y/$(touch pwned)/python"))
    assert "/p y/$(touch pwned)/python" in words


def test_credentials_file_shape():
    import yaml

    text = credentials_yaml("AK", "SK")
    assert yaml.safe_load(text) == {"object_storage": {"access_key": "AK", "secret_key": "SK"}}
