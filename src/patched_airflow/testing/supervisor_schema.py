"""
The Task SDK's supervisor schema snapshot (``execution_time/schema/schema.json``) is up to date.

Upstream regenerates that file with a prek hook that is not in the sdists: the JSON Schema of every
model the supervisor exchanges with a lang-SDK runtime, at the newest supervisor schema version.
This module produces the same document, in the same layout, from the installed Task SDK. It runs
twice: as a script inside the patched virtualenv (``python supervisor_schema.py`` prints the
snapshot), and from the build tool, which compares that output with the series' ``schema.json``.
Regenerating it from an unpatched 3.3.2 gives the shipped file byte for byte.
"""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys
from pathlib import Path

SCHEMA_JSON = "task-sdk/src/airflow/sdk/execution_time/schema/schema.json"


def snapshot() -> str:
    """The snapshot of the Task SDK importable here (only inside an Airflow virtualenv)."""
    os.environ["_AIRFLOW__AS_LIBRARY"] = "1"
    from pydantic.json_schema import GenerateJsonSchema, models_json_schema

    from airflow.sdk.execution_time.schema import bundle, registered_models_by_name

    models = registered_models_by_name()
    _, generated = models_json_schema(
        [(models[name], "serialization") for name in sorted(models)], schema_generator=GenerateJsonSchema
    )
    definitions = generated["$defs"]
    # Pydantic gives a model it meets as two classes (the Task SDK's and airflow-core's copy) two
    # names; upstream's snapshot keeps one entry per title and points every reference at it.
    renamed = {name: body["title"] for name, body in definitions.items() if body.get("title", name) != name}
    for name, title in renamed.items():
        body = definitions.pop(name)
        definitions.setdefault(title, body)
    text = json.dumps(
        {
            "$schema": GenerateJsonSchema.schema_dialect,
            "api_version": str(bundle.versions[0].value),
            "description": "Apache Airflow SDK Supervisor Schema",
            "$defs": definitions,
        },
        indent=2,
    )
    for name, title in renamed.items():
        text = text.replace(f'"#/$defs/{name}"', f'"#/$defs/{title}"')
    return text + "\n"


def _generate(venv: Path) -> str | None:
    """The snapshot of the Task SDK installed in ``venv``, or None (the error printed)."""
    result = subprocess.run(
        [str(venv / "bin" / "python"), __file__], capture_output=True, text=True, env={**os.environ}
    )
    if result.returncode != 0:
        print(f"could not generate the supervisor schema snapshot:\n{result.stderr[-3000:]}")
        return None
    return result.stdout


def check_supervisor_schema(tree: Path, venv: Path, vanilla: Path) -> int:
    """
    The supervisor schema is what the patched Task SDK (in ``venv``) gives.

    A series that edits ``schema.json`` must ship the snapshot of the patched Task SDK. A series that
    does not must leave the schema as the release has it: the patched Task SDK gives the same snapshot
    as the vanilla one in ``vanilla`` (this generator does not rebuild every release's file byte for
    byte, so the release's own file is not the reference then).
    """
    if not (tree / SCHEMA_JSON).is_file():
        # Task SDK releases before 1.3 (Airflow 3.1, 3.2) have no supervisor schema.
        print(f"{SCHEMA_JSON}: not in this release, nothing to check")
        return 0
    from patched_airflow import git  # here: this file also runs as a script inside Airflow's virtualenv

    if (generated := _generate(venv)) is None:
        return 1
    if git.run(tree, "diff", "--name-only", "pristine", "HEAD", "--", SCHEMA_JSON).strip():
        reference, names = (tree / SCHEMA_JSON).read_text(), ("series", "generated")
        what = f"{SCHEMA_JSON} matches the snapshot of the patched Task SDK"
    else:
        if (reference := _generate(vanilla)) is None:
            return 1
        names = ("vanilla", "patched")
        what = f"the series leaves the supervisor schema as the release has it ({SCHEMA_JSON} untouched)"
    if reference == generated:
        print(what)
        return 0
    print(f"{SCHEMA_JSON} is stale: regenerate it (docs/developer-guide.md); difference:")
    sys.stdout.writelines(
        difflib.unified_diff(reference.splitlines(True), generated.splitlines(True), *names, n=2)
    )
    return 1


if __name__ == "__main__":
    sys.stdout.write(snapshot())
