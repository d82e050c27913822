"""The public facade: a sorted ``__all__`` whose every name resolves."""

import kmspolicy


def test_all_is_sorted_and_unique() -> None:
    assert list(kmspolicy.__all__) == sorted(set(kmspolicy.__all__))


def test_every_exported_name_exists() -> None:
    missing = [name for name in kmspolicy.__all__ if not hasattr(kmspolicy, name)]
    assert missing == []


def test_the_version_is_written_once_and_reported_everywhere() -> None:
    from importlib.metadata import version

    from click.testing import CliRunner

    from kmspolicy.cli import cli

    assert kmspolicy.__version__ == version("kmspolicy")
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"kmspolicy {kmspolicy.__version__}\n"
