"""delete_instance_surely: retried, found by label when the id is unknown, and honest when it gives up."""

from __future__ import annotations

from types import SimpleNamespace

from stager.cloud.errors import CloudError
from stager.cloud.teardown import delete_instance_surely


class FlakyCloud:
    def __init__(self, failures: int, found: int | None = 42) -> None:
        self.failures = failures
        self.found = found
        self.deleted: list[int] = []

    def find_instance(self, label):
        return SimpleNamespace(id=self.found) if self.found is not None else None

    def delete_instance(self, instance_id):
        if self.failures:
            self.failures -= 1
            raise CloudError("503 Service Unavailable")
        self.deleted.append(instance_id)
        return True


def run(cloud, instance_id):
    lines, pauses = [], []
    ok = delete_instance_surely(cloud, label="stager-r1-gpu-0", instance_id=instance_id, role="builder",
                                say=lines.append, pause=pauses.append)
    return ok, lines, pauses


def test_retries_then_deletes():
    cloud = FlakyCloud(failures=2)
    ok, lines, pauses = run(cloud, 7)
    assert ok and cloud.deleted == [7] and pauses == [2.0, 4.0]
    assert lines[-1] == "builder instance 7 deleted"


def test_unknown_id_is_found_by_label_or_was_never_made():
    cloud = FlakyCloud(failures=0)
    assert run(cloud, None)[0] and cloud.deleted == [42]
    nothing = FlakyCloud(failures=0, found=None)
    assert run(nothing, None)[0] and nothing.deleted == []


def test_gives_up_with_the_command_to_finish():
    ok, lines, pauses = run(FlakyCloud(failures=5), 7)
    assert not ok and len(pauses) == 2
    assert "linode-cli linodes delete 7" in lines[-1] and "billed until deleted" in lines[-1]
