"""The console's multipart form reader (the import form's file uploads): a file's bytes come
back exactly, whatever they hold; a body that is not a well-formed form gives nothing."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from urllib3 import encode_multipart_formdata

from kmspolicy.server.console.web import MAX_PARTS, parse_multipart

BOUNDARY = "----kmspolicy-boundary-7MA4YWxkTrZu0gW"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def _body(fields: dict[str, str], files: dict[str, bytes]) -> bytes:
    """The form as urllib3 (requests' encoder, independent of the reader under test) sends it."""
    parts: list[tuple[str, Any]] = list(fields.items())
    parts += [
        (name, ("x.bin", content, "application/octet-stream")) for name, content in files.items()
    ]
    body, _ = encode_multipart_formdata(parts, boundary=BOUNDARY)
    return body


names = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=12)


@given(
    fields=st.dictionaries(names.map(lambda n: "f" + n), st.text(), max_size=3),
    files=st.dictionaries(names.map(lambda n: "u" + n), st.binary(max_size=300), max_size=3),
)
def test_fields_and_files_come_back_exactly(
    fields: dict[str, str], files: dict[str, bytes]
) -> None:
    # the browser picks a boundary its content does not hold; so does this strategy's alphabet
    assert parse_multipart(_body(fields, files), CONTENT_TYPE) == (fields, files)


def test_line_breaks_inside_a_file_are_kept() -> None:
    content = b"\r\n\r\n--not-the-boundary\r\n\n\r"
    assert parse_multipart(_body({}, {"f": content}), CONTENT_TYPE) == ({}, {"f": content})


def test_malformed_bodies_give_nothing() -> None:
    good = _body({"csrf": "t"}, {"f": b"x"})
    for body, ctype in (
        (good, "multipart/form-data"),  # no boundary
        (good, "multipart/mixed; boundary=" + BOUNDARY),
        (good[:-8], CONTENT_TYPE),  # no closing delimiter
        (b"preamble\r\n" + good, CONTENT_TYPE),
        (good.replace(b"\r\n\r\nt", b"t"), CONTENT_TYPE),  # a part without its blank line
        (_body({"a": "1"}, {"a": b"2"}), CONTENT_TYPE),  # one name twice
        (_body({f"f{n}": "" for n in range(MAX_PARTS + 1)}, {}), CONTENT_TYPE),
        (_body({"f": "~"}, {}).replace(b"~", b"\xff"), CONTENT_TYPE),  # not UTF-8
    ):
        assert parse_multipart(body, ctype) == ({}, {}), body[:80]
