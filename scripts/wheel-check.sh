#!/bin/sh
# Proves a non-editable install works: build the wheel, install it into a fresh venv outside
# the source tree, and run the parser from there (the grammar and the docs ship inside the wheel).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$top"
cd "$work"
"$work/venv/bin/python" - <<'PY'
import importlib.resources, kmspolicy, pathlib
root = pathlib.Path(kmspolicy.__file__).parent
assert "site-packages" in str(root), root
grammar = importlib.resources.files("kmspolicy") / "grammar" / "kmspolicy.lark"
assert grammar.is_file(), "grammar missing from the wheel"
docs = importlib.resources.files("kmspolicy") / "docs" / "lint.md"
assert docs.is_file(), "docs missing from the wheel"
assert kmspolicy.__version__, "no version"
print("wheel ok:", root)
PY
if [ -f "$top/fixtures/default-key-policy.kmsp" ]; then
  "$work/venv/bin/kmspolicy" fmt --check "$top/fixtures/default-key-policy.kmsp"
fi
"$work/venv/bin/kmspolicy" lint --explain PUBLIC_ACCESS >/dev/null
