"""The public facade: a sorted ``__all__`` whose every name resolves."""

import kmspolicy


def test_all_is_sorted_and_unique() -> None:
    assert list(kmspolicy.__all__) == sorted(set(kmspolicy.__all__))


def test_every_exported_name_exists() -> None:
    missing = [name for name in kmspolicy.__all__ if not hasattr(kmspolicy, name)]
    assert missing == []
