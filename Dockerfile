# Apache Airflow 3.3.2 with persist_xcom_through_retry: the official image with the patched core and
# Task SDK wheels from ./build.sh installed over its own. Build after ./build.sh:
#   docker build -t airflow-persist-xcom:3.3.2 .
# python3.12 is the official image's default Python for 3.3.2; the wheels are pure Python
# (py3-none-any), so any of its Python variants works: change the tag to match yours.
FROM apache/airflow:3.3.2-python3.12

COPY --chown=airflow:root dist/apache_airflow_core-*.whl dist/apache_airflow_task_sdk-*.whl docker/install-patched-wheels.sh /opt/patched-airflow/
RUN bash /opt/patched-airflow/install-patched-wheels.sh /opt/patched-airflow
