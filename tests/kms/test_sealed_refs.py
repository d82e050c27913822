"""A record carries no secret: its material and wrapping keys are ``Sealed`` references, which
give nothing away, and only the key backends and the stores' codec read one."""

from __future__ import annotations

import ast
import copy
import pickle
from pathlib import Path

import pytest

import kmspolicy
from kmspolicy.kms.model import KeyMaterial, PendingImportParameters
from kmspolicy.kms.sealed import Sealed, reveal

PACKAGE = Path(kmspolicy.__file__).parent
SECRET = b"sealed-bytes-" + bytes(range(32))

#: The modules that read a sealed reference's bytes (``reveal``) or make one from bytes: the
#: key backends (they seal and unseal) and the codec of the database stores (it persists them)
_READERS = {
    "kms/sealed.py",
    "kms/backends.py",
    "kms/keystores/cloudhsm_backend.py",
    "store/codec.py",
}


def test_a_sealed_reference_shows_nothing_of_its_bytes() -> None:
    ref = Sealed(SECRET)
    for shown in (repr(ref), str(ref), f"{ref}", repr(KeyMaterial("a" * 64, ref))):
        assert "sealed-bytes" not in shown and SECRET.hex() not in shown
    with pytest.raises(TypeError):
        bytes(ref)  # type: ignore[call-overload]
    with pytest.raises(TypeError):
        memoryview(ref)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        pickle.dumps(ref)
    with pytest.raises(TypeError):
        _ = ref < Sealed(SECRET)  # type: ignore[operator]
    with pytest.raises(TypeError):
        vars(ref)
    assert [name for name in dir(ref) if not name.startswith("__")] == ["_Sealed__blob"]
    with pytest.raises(AttributeError):
        ref.blob = b""  # type: ignore[attr-defined]


def test_a_sealed_reference_is_carried_and_compared_but_not_changed() -> None:
    ref = Sealed(SECRET)
    assert copy.copy(ref) is ref and copy.deepcopy(ref) is ref
    assert ref == Sealed(SECRET) and ref != Sealed(SECRET[:-1]) and ref != SECRET
    assert hash(ref) == hash(Sealed(SECRET))
    params = PendingImportParameters("t", "RSA_2048", "RSAES_OAEP_SHA_256", None, ref)  # type: ignore[arg-type]
    assert reveal(params.sealed_wrapping_key) == SECRET  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Sealed(b"")
    with pytest.raises(TypeError):
        Sealed(bytearray(SECRET))  # type: ignore[arg-type]


def _reads(source: str) -> list[str]:
    """Where ``source`` reads a sealed reference's bytes or makes one from bytes (naming the
    type, as the model and the kernel do in annotations, is neither)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module == "kmspolicy.kms.sealed":
            found += [f"{node.lineno}: imports reveal" for a in node.names if a.name == "reveal"]
        elif isinstance(node, ast.ImportFrom) and node.module == "kmspolicy.kms":
            found += [
                f"{node.lineno}: imports the module" for a in node.names if a.name == "sealed"
            ]
        elif isinstance(node, ast.Import):
            found += [
                f"{node.lineno}: imports the module"
                for a in node.names
                if a.name == "kmspolicy.kms.sealed"
            ]
        elif isinstance(node, ast.Call) and (
            (isinstance(node.func, ast.Name) and node.func.id == "Sealed")
            or (isinstance(node.func, ast.Attribute) and node.func.attr == "Sealed")
        ):
            found.append(f"{node.lineno}: makes a Sealed")
        elif isinstance(node, ast.Attribute) and node.attr == "_Sealed__blob":
            found.append(f"{node.lineno}: reads ._Sealed__blob")
        elif isinstance(node, ast.Constant) and node.value == "_Sealed__blob":
            found.append(f"{node.lineno}: names _Sealed__blob")
    return found


def test_only_the_backends_and_the_codec_read_or_make_sealed_references() -> None:
    """A handler, a lifecycle rule, the pipeline or a store's SQL can carry a reference over
    from one record to the next, but not read one, nor forge one from bytes."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = str(path.relative_to(PACKAGE))
        if module not in _READERS:
            found += [f"{module}:{read}" for read in _reads(path.read_text())]
    assert found == [], "\n".join(found)
    assert all((PACKAGE / module).exists() for module in _READERS)


@pytest.mark.parametrize(
    "source",
    [
        "from kmspolicy.kms.sealed import reveal\n",
        "from kmspolicy.kms.sealed import Sealed\nSealed(b'forged')\n",
        "from kmspolicy.kms import sealed\nsealed.Sealed(b'forged')\n",
        "import kmspolicy.kms.sealed\n",
        "def f(m):\n    return m.sealed._Sealed__blob\n",
        "def f(m):\n    return getattr(m.sealed, '_Sealed__blob')\n",
        "from kmspolicy.kms import sealed\nsealed.reveal(x)\n",
    ],
)
def test_the_check_finds_each_way_to_read_a_reference(source: str) -> None:
    assert _reads(source)
