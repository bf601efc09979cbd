#!/usr/bin/env bash
# Install one line's patched apache-airflow-core and apache-airflow-task-sdk wheels over an existing
# installation of the apache-airflow release they patch (the official image's), without pulling
# vanilla core back in: --no-deps, because their dependencies are exactly that release's, already
# installed. Used by the Dockerfile, and by ./test.sh in a clean virtualenv (no Docker engine there).
#   install-patched-wheels.sh <folder with the two wheels>
set -euo pipefail
wheels="${1:?usage: install-patched-wheels.sh <folder with the two wheels>}"
release="$(python -c 'from importlib.metadata import version; print(version("apache-airflow"))')"
core=("$wheels"/apache_airflow_core-"$release"+*-py3-none-any.whl)
sdk=("$wheels"/apache_airflow_task_sdk-*+*-py3-none-any.whl)
[ -f "${core[0]}" ] || { echo "error: no patched apache-airflow-core $release wheel in $wheels" >&2; exit 1; }
[ -f "${sdk[0]}" ] || { echo "error: no patched apache-airflow-task-sdk wheel in $wheels" >&2; exit 1; }
pip install --no-cache-dir --no-deps "${core[0]}" "${sdk[0]}"
version="$(airflow version)"
case "$version" in
    "$release"+*) echo "Installed patched Airflow $version" ;;
    *) echo "error: airflow version is $version, not the patched build of $release" >&2; exit 1 ;;
esac
