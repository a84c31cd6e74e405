#!/usr/bin/env bash
# The Python packages aetui needs that a bare GPU image (torch, numpy, rich, tensorboard,
# pillow already there) may lack, as wheels for CPython 3.12 on x86-64, downloaded into
# .whl/ (kept out of git through .git/info/exclude). benchmarks/gpu.sh installs them when
# .whl/ travels with the tree (the device tool's `carry: [".whl"]`). Versions: this venv's.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
mkdir -p .git/info && { grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude; }
pins=$("$PY" - <<'PY'
from importlib.metadata import version
names = ["pydantic", "pydantic-core", "annotated-types", "typing-inspection", "typing-extensions",
         "sqlalchemy", "sqlmodel", "alembic", "mako", "markupsafe"]
print(" ".join(f"{n}=={version(n)}" for n in names))
PY
)
# shellcheck disable=SC2086
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl $pins
ls .whl
