# Apache Airflow with persist_xcom_through_retry: the official image with one line's patched core and
# Task SDK wheels from ./build.sh installed over its own. Build after ./build.sh, for the default line:
#   docker build -t airflow-persist-xcom:3.3.2 .
# or another line (its folder in lines/ and the apache-airflow release it patches):
#   docker build --build-arg LINE=3.4 --build-arg AIRFLOW_VERSION=3.4.0b2 -t airflow-persist-xcom:3.4.0b2 .
# python3.12 is the official image's default Python; the wheels are pure Python (py3-none-any), so any
# of its Python variants works: change PYTHON_VERSION to match yours.
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.12
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}
ARG LINE=3.3

COPY --chown=airflow:root dist/${LINE}/apache_airflow_core-*.whl dist/${LINE}/apache_airflow_task_sdk-*.whl docker/install-patched-wheels.sh /opt/patched-airflow/
RUN bash /opt/patched-airflow/install-patched-wheels.sh /opt/patched-airflow
