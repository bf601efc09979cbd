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


def _series_change_matches(release: dict, series: dict, vanilla: dict, patched: dict) -> list[str]:
    """
    The entries where the series' ``schema.json`` is not the release's changed as the models changed.

    An entry (a top-level key, or a model under ``$defs``) the series' models leave as the vanilla Task
    SDK gives it must stay as the release has it; one they change must be what the patched Task SDK
    gives. So the generator's own rendering of entries the series does not touch never counts.
    """

    def not_as_the_models(documents: tuple[dict, ...], prefix: str) -> list[str]:
        release_, series_, vanilla_, patched_ = documents
        return [
            f"{prefix}{name}"
            for name in sorted(set().union(*documents) - {"$defs"})
            if series_.get(name)
            != (release_.get(name) if patched_.get(name) == vanilla_.get(name) else patched_.get(name))
        ]

    documents = (release, series, vanilla, patched)
    return not_as_the_models(documents, "") + not_as_the_models(
        tuple(document.get("$defs", {}) for document in documents), "$defs/"
    )


def check_supervisor_schema(tree: Path, venv: Path, vanilla: Path) -> int:
    """
    The supervisor schema is what the patched Task SDK (in ``venv``) gives.

    A series that does not edit ``schema.json`` must leave the schema as the release has it: the patched
    Task SDK gives the same snapshot as the vanilla one in ``vanilla``. A series that edits it must change
    exactly the entries its models change, each to what the patched Task SDK gives, and leave the others
    as the release has them (this generator does not rebuild every release's file byte for byte, so
    regenerating the whole file would also rewrite entries the series never touched).
    """
    if not (tree / SCHEMA_JSON).is_file():
        # Task SDK releases before 1.3 (Airflow 3.1, 3.2) have no supervisor schema.
        print(f"{SCHEMA_JSON}: not in this release, nothing to check")
        return 0
    from patched_airflow import git  # here: this file also runs as a script inside Airflow's virtualenv

    if (generated := _generate(venv)) is None or (reference := _generate(vanilla)) is None:
        return 1
    if git.run(tree, "diff", "--name-only", "pristine", "HEAD", "--", SCHEMA_JSON).strip():
        release = json.loads(git.run(tree, "show", f"pristine:{SCHEMA_JSON}"))
        series = json.loads((tree / SCHEMA_JSON).read_text())
        wrong = _series_change_matches(release, series, json.loads(reference), json.loads(generated))
        if not wrong:
            print(f"{SCHEMA_JSON} changes exactly what the patched Task SDK's models change")
            return 0
        print(f"{SCHEMA_JSON} is stale (docs/developer-guide.md); entries not as the models give them:")
        for name in wrong:
            print(f"  {name}")
        return 1
    if reference == generated:
        print(f"the series leaves the supervisor schema as the release has it ({SCHEMA_JSON} untouched)")
        return 0
    print(f"{SCHEMA_JSON} is stale: regenerate it (docs/developer-guide.md); difference:")
    sys.stdout.writelines(
        difflib.unified_diff(
            reference.splitlines(True), generated.splitlines(True), "vanilla", "patched", n=2
        )
    )
    return 1


if __name__ == "__main__":
    sys.stdout.write(snapshot())
