"""Progress without a terminal: a few plain lines, however many updates arrive."""

from __future__ import annotations

import threading

from stager.storage.progress import TransferProgress, format_bytes


def test_plain_lines_at_start_each_quarter_and_the_end():
    lines: list[str] = []
    with TransferProgress("sending to s3://b/p", files=100, total_bytes=100 * 1024, enabled=False,
                          say=lines.append, quiet_first_s=0) as progress:
        workers = [threading.Thread(target=lambda: [progress.advance(1024, files=1) for _ in range(25)])
                   for _ in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    assert lines[0] == "sending to s3://b/p: 100 files, 100.0 KiB"
    assert [line.split(":")[0].strip() for line in lines[1:-1]] == ["25%", "50%", "75%"]
    assert lines[-1].startswith("  done: 100/100 files, 100.0 KiB in ")
    assert progress.done_files == 100 and progress.done_bytes == 100 * 1024


def test_a_failed_transfer_says_no_done_line_and_retries_never_go_negative():
    lines: list[str] = []
    try:
        with TransferProgress("pulling", files=1, total_bytes=10, enabled=False, say=lines.append) as progress:
            progress.advance(-5)
            assert progress.done_bytes == 0
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert lines == ["pulling: 1 file, 10 B"]


def test_format_bytes():
    assert [format_bytes(n) for n in (0, 1023, 1536, 5 * 1024**3)] == ["0 B", "1023 B", "1.5 KiB", "5.0 GiB"]


def test_a_quick_transfer_says_only_where_it_starts_and_ends():
    lines: list[str] = []
    with TransferProgress("pulling", files=4, total_bytes=4, enabled=False, say=lines.append) as progress:
        for _ in range(4):
            progress.advance(1, files=1)
    assert len(lines) == 2 and lines[1].startswith("  done: 4/4 files")


def test_the_rich_bar_counts_the_same(capsys):
    lines: list[str] = []
    with TransferProgress("sending", files=2, total_bytes=2048, enabled=True, say=lines.append) as progress:
        progress.advance(1024, files=1)
        progress.advance(1024, files=1)
    assert lines == [] and progress.done_files == 2
    assert "2/2 files" in capsys.readouterr().err
