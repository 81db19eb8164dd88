"""A fuzz run of the admin API (schemathesis, from PyPI) against the live server: no 5xx, every
response within the OpenAPI description (status, content type, schema)."""
import os
import subprocess

from conftest import ROOT


def test_fuzzing_the_admin_api_finds_no_server_error(fuzz_server):
    server = fuzz_server
    env = dict(os.environ, PORTAIL_DATA_DIR=str(server["data"]))
    created = subprocess.run([str(ROOT / ".build" / "debug" / "portail"), "admin", "create-federation-admin", "fuzz@example.org"],
                             cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("ptk_")
    run = subprocess.run([
        "schemathesis", "run", str(ROOT / "docs" / "openapi.yaml"), "--url", server["base"],
        "--header", f"Authorization: Bearer {token}",
        "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        # Revoking tokens is tested on its own: fuzzing it would revoke the token this run uses.
        "--exclude-operation-id", "revokeToken",
        "--max-examples", "25", "--seed", "20261126",
        "--report", "junit", "--report-dir", str(ROOT / "test-results" / "fuzz"),
    ], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
