#!/usr/bin/env bash
# Create benchmarks/.venv-great with the GReaT baseline (be_great 0.0.14), apart from the
# project's .venv so that be_great's requirements cannot move the project's pinned versions.
# Shared packages (transformers, pandas, numpy, ...) are constrained to constraints.txt, so
# both sides of a comparison run the same library versions.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
venv="${GREAT_VENV:-$here/.venv-great}"
python="${PYTHON:-python3.11}"
pip=("$venv/bin/pip" --disable-pip-version-check)

test -x "$venv/bin/python" || "$python" -m venv "$venv"
# The CPU build of torch first: an unpinned torch would pull a multi-GB CUDA build.
"${pip[@]}" install -c "$root/constraints.txt" torch==2.13.0
# The lora extra brings peft, for --lora comparisons.
"${pip[@]}" install -c "$root/constraints.txt" "be-great[lora]==0.0.14"
"$venv/bin/python" - <<'PY'
from importlib.metadata import version

print(", ".join(f"{name} {version(name)}" for name in ("be_great", "transformers", "peft", "torch")))
PY
