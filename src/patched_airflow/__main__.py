from __future__ import annotations

import sys

from patched_airflow.cli import main

sys.exit(main())
