#!/usr/bin/env bash
# Install the patched apache-airflow-core and apache-airflow-task-sdk wheels over an existing
# apache-airflow 3.3.2 installation (the official image's), without pulling vanilla core back in:
# --no-deps, because their dependencies are exactly those of 3.3.2, already installed.
# Used by the Dockerfile, and by ./test.sh in a clean virtualenv (there is no Docker engine there).
#   install-patched-wheels.sh <folder with the two wheels>
set -euo pipefail
wheels="${1:?usage: install-patched-wheels.sh <folder with the two wheels>}"
pip install --no-cache-dir --no-deps \
    "$wheels"/apache_airflow_core-3.3.2+*-py3-none-any.whl \
    "$wheels"/apache_airflow_task_sdk-1.3.2+*-py3-none-any.whl
version="$(airflow version)"
case "$version" in
    3.3.2+*) echo "Installed patched Airflow $version" ;;
    *) echo "error: airflow version is $version, not the patched build" >&2; exit 1 ;;
esac
