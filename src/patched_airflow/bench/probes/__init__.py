"""Scripts ``./bench.sh`` runs inside each Airflow virtualenv; each prints JSON (see bench.py)."""
