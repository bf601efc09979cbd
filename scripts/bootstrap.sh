# Sourced by build.sh, test.sh and dev.sh: a private tool environment in .tools/ holding uv and this
# project's build tool. Needs only python3 (>= 3.10) and git on the machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
command -v git >/dev/null || { echo "error: git is required" >&2; exit 1; }
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
    || { echo "error: $PYTHON must be Python 3.10 or newer" >&2; exit 1; }
TOOLS="$ROOT/.tools"
if [ ! -x "$TOOLS/bin/uv" ] || [ ! -f "$TOOLS/.installed" ] || [ "$ROOT/pyproject.toml" -nt "$TOOLS/.installed" ]; then
    echo "Setting up the build tool in .tools/"
    "$PYTHON" -m venv "$TOOLS"
    # uv 0.8.4 or newer: --exclude-newer-package (a line's [venv.exclude_newer_package]).
    "$TOOLS/bin/python" -m pip install --quiet --disable-pip-version-check "uv>=0.8.4"
    "$TOOLS/bin/uv" pip install --quiet --python "$TOOLS/bin/python" -e "$ROOT[test]"
    touch "$TOOLS/.installed"
fi
UV="$TOOLS/bin/uv"
TOOL=("$TOOLS/bin/python" -m patched_airflow --uv "$UV")
