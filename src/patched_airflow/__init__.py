"""Build tool for Apache Airflow patched with ``persist_xcom_through_retry``."""
