"""Checkpoints finished on a background thread: the state of the save, in order, never deleted early."""

from __future__ import annotations

import os
import pickle
import threading

import pytest
import torch
from tiny_models import RegressionData, Regressor

from stager.train import Callback, ModelCheckpoint, Trainer, seed_everything
from stager.train.checkpoint import load_checkpoint
from stager.train.checkpoint_writer import CheckpointWriter, SavedCheckpoint


def _ignore(path: str) -> None:
    """An announcement nobody listens to."""


def _weights(value: float) -> dict:
    return {"state_dict": {"w": torch.full((3,), value)}}


def _hold_queue(writer: CheckpointWriter) -> threading.Event:
    """Keep the writer's thread busy until the returned event is set."""
    gate = threading.Event()
    writer._submit(gate.wait, 30)
    return gate


def _until_idle(writer: CheckpointWriter) -> None:
    """Return once the writer's thread has done everything queued so far (it works in order)."""
    idle = threading.Event()
    writer._submit(idle.set)
    assert idle.wait(30)


def test_a_background_save_holds_the_state_of_the_save_and_appears_only_when_durable(tmp_path):
    writer = CheckpointWriter()
    gate = _hold_queue(writer)
    state = _weights(1.0)
    target = str(tmp_path / "a.ckpt")
    writer.save(state, target, background=True, announce=_ignore)
    state["state_dict"]["w"].add_(5.0)  # training goes on and changes the tensors
    assert not (tmp_path / "a.ckpt").exists() and not writer.durable
    gate.set()
    writer.wait()
    assert list(writer.durable) == [target]
    assert torch.equal(load_checkpoint(target)["state_dict"]["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["a.ckpt"]  # the temporary file became it
    writer.close()


def test_wait_outlasts_a_save_whose_future_an_interrupt_kept_from_being_recorded(tmp_path):
    writer = CheckpointWriter()
    gate = _hold_queue(writer)
    target = str(tmp_path / "a.ckpt")
    writer.save(_weights(1.0), target, background=True, announce=_ignore)
    writer._futures.clear()  # as a Ctrl-C between the executor's submit() and the future's recording leaves it
    threading.Timer(0.1, gate.set).start()
    writer.wait()
    assert list(writer.durable) == [target]  # so the trainer's settling announces it before the exit
    writer.close()


def test_a_small_checkpoint_reaches_the_disk_from_the_writer_thread_a_large_one_from_the_caller(tmp_path, monkeypatch):
    from stager.train import checkpoint_writer

    writer = CheckpointWriter()
    gate = _hold_queue(writer)
    writer.save(_weights(1.0), str(tmp_path / "small.ckpt"), background=True, announce=_ignore)
    assert list(tmp_path.iterdir()) == []  # serialised in memory: no file yet, not even a temporary one
    monkeypatch.setattr(checkpoint_writer, "IN_MEMORY_SHARE", 1e-12)  # 12 bytes of weights now count as large
    writer.save(_weights(2.0), str(tmp_path / "large.ckpt"), background=True, announce=_ignore)
    written = [p.name for p in tmp_path.iterdir()]
    assert len(written) == 1 and written[0].startswith(".large.ckpt.") and written[0].endswith(".tmp")
    gate.set()
    writer.wait()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["large.ckpt", "small.ckpt"]
    assert load_checkpoint(tmp_path / "small.ckpt")["state_dict"]["w"][0] == 1.0
    assert load_checkpoint(tmp_path / "large.ckpt")["state_dict"]["w"][0] == 2.0
    writer.close()


def test_a_deletion_waits_for_the_write_queued_before_it(tmp_path):
    writer = CheckpointWriter()
    old = str(tmp_path / "old.ckpt")
    writer.save(_weights(1.0), old, background=False, announce=_ignore)
    writer.announce_durable(_ignore)
    gate = _hold_queue(writer)
    writer.save(_weights(2.0), str(tmp_path / "new.ckpt"), background=True, announce=_ignore)
    writer.delete(old)
    assert (tmp_path / "old.ckpt").exists()  # the new one is not durable yet
    gate.set()
    writer.wait()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.ckpt"]
    writer.close()


def test_a_checkpoint_is_not_deleted_before_it_was_announced(tmp_path):
    writer = CheckpointWriter()
    first = str(tmp_path / "first.ckpt")
    writer.save(_weights(1.0), first, background=True, announce=_ignore)
    writer.wait()
    writer.delete(first)  # durable, not yet announced
    writer.wait()
    assert (tmp_path / "first.ckpt").exists()
    seen = []
    writer.announce_durable(lambda path: seen.append((path, load_checkpoint(path)["state_dict"]["w"][0].item())))
    assert seen == [(first, 1.0)]
    writer.wait()
    assert not (tmp_path / "first.ckpt").exists()
    writer.close()


def test_saving_a_path_again_first_announces_the_earlier_save_of_it(tmp_path):
    """Each announcement sees its own save's file, even when saves come faster than the disk."""
    writer = CheckpointWriter()
    path = str(tmp_path / "last.ckpt")
    seen = []

    def announce(saved):
        seen.append(load_checkpoint(saved)["state_dict"]["w"][0].item())

    gate = _hold_queue(writer)
    threading.Timer(0.3, gate.set).start()  # the disk is slow: the first save is not durable yet
    writer.save(_weights(1.0), path, background=True, announce=announce)
    writer.save(_weights(2.0), path, background=True, announce=announce)  # waits for the first, announces it
    assert seen == [1.0]
    writer.wait()
    writer.announce_durable(announce)
    assert seen == [1.0, 2.0]
    writer.close()


def test_a_deletion_asked_for_before_a_path_is_saved_again_leaves_the_new_file(tmp_path):
    writer = CheckpointWriter()
    path = str(tmp_path / "x.ckpt")
    writer.save(_weights(1.0), path, background=True, announce=_ignore)
    writer.delete(path)
    writer.save(_weights(2.0), path, background=True, announce=_ignore)
    writer.wait()
    writer.announce_durable(_ignore)
    writer.wait()
    assert torch.equal(load_checkpoint(path)["state_dict"]["w"], torch.full((3,), 2.0))
    writer.close()


def test_an_announcement_interrupted_is_made_again(tmp_path):
    writer = CheckpointWriter()
    path = str(tmp_path / "a.ckpt")
    writer.save(_weights(1.0), path, background=True, announce=_ignore)
    writer.wait()

    def interrupted(saved):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        writer.announce_durable(interrupted)
    seen = []
    writer.announce_durable(seen.append)
    assert seen == [path]
    writer.close()


def test_a_saved_checkpoint_path_pickles_with_its_epoch_and_step():
    saved = pickle.loads(pickle.dumps(SavedCheckpoint("/ck/last.ckpt", 3, 48)))
    assert (saved, saved.epoch, saved.global_step) == ("/ck/last.ckpt", 3, 48)


def test_a_failed_background_commit_is_raised_at_the_next_save_and_leaves_no_temporary_file(tmp_path):
    writer = CheckpointWriter()
    blocked = tmp_path / "blocked.ckpt"
    blocked.mkdir()
    (blocked / "keep").write_text("a folder cannot be renamed over")
    writer.save(_weights(1.0), str(blocked), background=True, announce=_ignore)
    with pytest.raises(OSError):
        writer.wait()
    writer.save(_weights(1.0), str(blocked), background=True, announce=_ignore)
    _until_idle(writer)
    with pytest.raises(OSError):
        writer.save(_weights(2.0), str(tmp_path / "next.ckpt"), background=True, announce=_ignore)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocked.ckpt"]
    assert (blocked / "keep").exists() and not writer.durable
    writer.close()


def test_a_writer_pickles_as_a_fresh_one_for_spawned_workers(tmp_path):
    writer = CheckpointWriter()
    writer.save(_weights(1.0), str(tmp_path / "a.ckpt"), background=True, announce=_ignore)
    copy = pickle.loads(pickle.dumps(writer))
    assert not copy._futures and copy._executor is None and not copy.durable
    writer.close()


class _Recorder(Callback):
    def __init__(self) -> None:
        self.announced: list[tuple[str, int, int, bool]] = []
        self.fit_end_saw = 0

    def on_checkpoint_saved(self, trainer, pl_module, path):
        assert isinstance(path, SavedCheckpoint)
        checkpoint = load_checkpoint(path)  # the file is there, complete, whatever the trainer did since
        assert (checkpoint["epoch"], checkpoint["global_step"]) == (path.epoch, path.global_step)
        name = path.rsplit("/", 1)[-1]
        self.announced.append((name, path.epoch, path.global_step, trainer.global_step >= path.global_step))

    def on_fit_end(self, trainer, pl_module):
        self.fit_end_saw = len(self.announced)


def _writer_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("stager-checkpoint")}


def test_the_trainer_announces_each_checkpoint_once_with_its_own_epoch_and_step(tmp_path):
    seed_everything(3)
    threads_before = _writer_threads()
    recorder = _Recorder()
    checkpoints = ModelCheckpoint(dirpath=str(tmp_path / "ck"), save_last=True)
    trainer = Trainer(max_epochs=3, accelerator="cpu", default_root_dir=str(tmp_path), enable_progress_bar=False,
                      logger=False, callbacks=[checkpoints, recorder])
    trainer.fit(Regressor(), datamodule=RegressionData())
    steps = [16, 32, 48]  # 256 samples in batches of 16
    expected = []
    for epoch, step in enumerate(steps):
        expected += [(f"epoch={epoch}-step={step}.ckpt", epoch, step, True), ("last.ckpt", epoch, step, True)]
    assert recorder.announced == expected
    assert recorder.fit_end_saw == len(expected)  # all announced before on_fit_end
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["epoch=2-step=48.ckpt", "last.ckpt"]
    assert load_checkpoint(tmp_path / "ck" / "last.ckpt")["global_step"] == 48
    assert not _writer_threads() - threads_before  # the fit's writer thread was stopped at teardown


def test_a_manual_save_is_on_disk_and_announced_when_it_returns(tmp_path):
    recorder = _Recorder()
    trainer = Trainer(max_epochs=1, accelerator="cpu", default_root_dir=str(tmp_path), enable_progress_bar=False,
                      logger=False, enable_checkpointing=False, callbacks=[recorder])
    trainer.fit(Regressor(), datamodule=RegressionData())
    threads_before = _writer_threads()
    trainer.save_checkpoint(tmp_path / "manual.ckpt")
    assert (tmp_path / "manual.ckpt").is_file()
    assert _writer_threads() == threads_before  # outside a fit nothing runs in the background
    assert recorder.announced == [("manual.ckpt", 1, 16, True)]


def test_closing_deletes_temporary_files_an_interrupted_save_left(tmp_path):
    from stager.train import checkpoint as checkpoint_io

    writer = CheckpointWriter()
    writer.save(_weights(1.0), str(tmp_path / "last.ckpt"), background=True, announce=_ignore)
    fd, left = checkpoint_io._new_temp_file(tmp_path, "last.ckpt")  # created, then the interrupt came
    os.close(fd)
    other_process = tmp_path / ".last.ckpt.1-0.tmp"  # (pid 1 is never this test)
    other_process.write_bytes(b"")
    writer.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".last.ckpt.1-0.tmp", "last.ckpt"]
    assert not os.path.exists(left)


def test_the_last_good_checkpoint_counts_one_still_being_made_durable(tmp_path):
    """A NaN stop names the checkpoint just saved even while its rename is still queued."""
    callback = ModelCheckpoint(dirpath=str(tmp_path / "ck"), save_last=True)
    trainer = Trainer(max_epochs=1, accelerator="cpu", default_root_dir=str(tmp_path), enable_progress_bar=False,
                      logger=False, callbacks=[callback])
    trainer.fit(Regressor(), datamodule=RegressionData())
    (tmp_path / "ck" / "last.ckpt").unlink()
    gate = _hold_queue(trainer._checkpoint_writer)
    threading.Timer(0.3, gate.set).start()
    trainer.save_checkpoint(callback.last_model_path, background=True)
    assert not (tmp_path / "ck" / "last.ckpt").exists()  # not renamed yet
    assert trainer._last_good_checkpoint() == callback.last_model_path
    trainer._checkpoint_writer.close()


def test_discarding_survives_a_close_that_fails(tmp_path):
    from stager.train.checkpoint import PendingCheckpoint, discard

    class FullDisk:
        def close(self):
            raise OSError(28, "No space left on device")

    temp = tmp_path / ".last.ckpt.1-0.tmp"
    temp.write_bytes(b"partial")
    discard(PendingCheckpoint(FullDisk(), str(temp), tmp_path / "last.ckpt"))
    assert not temp.exists()
