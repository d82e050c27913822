"""`kmspolicy serve`'s access lines, written straight to stderr's descriptor: the same text the
log handler would write for the line, whole, and in order with what the stream wrote before."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kmspolicy.server.main import _access_writer, _Formatter, _JsonFormatter

LINE = "127.0.0.1 8c1f-… Encrypt us-east-1 arn:aws:iam::000000000000:root 200 - 5530 5745 0.23ms"
# a second's start and end, a millisecond's rounding edge, and one past 2038
MOMENTS = [1_700_000_000.0, 1_700_000_000.9999998, 1_700_000_000.0005, 1_700_000_000.999, 2.5e9]


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[io.TextIOWrapper]:
    with (tmp_path / "stderr").open("w", encoding="utf-8", errors="backslashreplace") as stream:
        yield stream


def _handler_line(formatter: _Formatter, created: float) -> str:
    record = logging.LogRecord("kmspolicy.access", logging.INFO, __file__, 0, LINE, (), None)
    record.created = created
    return formatter.format(record) + "\n"


@pytest.mark.parametrize("formatter", [_Formatter(), _JsonFormatter()], ids=["text", "json"])
@pytest.mark.parametrize("created", MOMENTS)
def test_an_access_line_is_the_handlers_line(
    formatter: _Formatter, created: float, log_file: io.TextIOWrapper, monkeypatch: Any
) -> None:
    monkeypatch.setattr("kmspolicy.server.main.time.time", lambda: created)
    _access_writer(log_file, formatter)(LINE)
    assert Path(log_file.name).read_text() == _handler_line(formatter, created)
    if isinstance(formatter, _JsonFormatter):
        assert json.loads(Path(log_file.name).read_text())["message"] == LINE


def test_a_stream_without_a_descriptor_is_written_and_flushed() -> None:
    stream = io.StringIO()
    _access_writer(stream, _Formatter())(LINE)
    assert stream.getvalue().endswith(f" kmspolicy.access INFO {LINE}\n")


def test_a_line_is_written_whole_when_the_descriptor_takes_part_of_it(
    log_file: io.TextIOWrapper, monkeypatch: Any
) -> None:
    real_write = os.write

    def seven_bytes_at_most(fd: int, data: bytes) -> int:
        return real_write(fd, bytes(data[:7]))

    monkeypatch.setattr("kmspolicy.server.main.os.write", seven_bytes_at_most)
    write = _access_writer(log_file, _Formatter())
    write(LINE)
    write("second")
    first, second = Path(log_file.name).read_text().splitlines()
    assert first.endswith(f" kmspolicy.access INFO {LINE}")
    assert second.endswith(" kmspolicy.access INFO second")


def test_lines_come_after_what_the_stream_held_before(log_file: io.TextIOWrapper) -> None:
    log_file.write("started without a newline yet: ")  # held in the stream's buffer
    _access_writer(log_file, _Formatter())(LINE)
    assert Path(log_file.name).read_text().startswith("started without a newline yet: ")


def test_text_is_encoded_as_the_stream_encodes(log_file: io.TextIOWrapper) -> None:
    _access_writer(log_file, _Formatter())("caller \udcff")  # a lone surrogate
    assert Path(log_file.name).read_text().endswith("caller \\udcff\n")
