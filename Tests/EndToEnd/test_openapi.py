"""docs/openapi.yaml is valid OpenAPI 3.1, and every operation it describes exists on the server
(without a token each answers 401 with a problem document, not the router's 404)."""
import json
import re
import urllib.error
import urllib.request

import yaml
from openapi_spec_validator import validate

from conftest import ROOT


def test_the_spec_validates():
    validate(yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text()))


def test_every_described_operation_exists(server):
    spec = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
    for path, operations in spec["paths"].items():
        concrete = re.sub(r"\{[a-z_]+\}", "1", path.replace("{code}", "opio"))
        for method, operation in operations.items():
            request = urllib.request.Request(server["base"] + concrete, method=method.upper(), data=b"" if method != "get" else None)
            # Operations open to anyone (accepting an invitation) refuse the empty body instead.
            expected = 422 if operation.get("security") == [] else 401
            try:
                urllib.request.urlopen(request, timeout=10)
                raise AssertionError(f"{method.upper()} {path} answered without a token")
            except urllib.error.HTTPError as error:
                assert error.code == expected, f"{method.upper()} {path}: {error.code}"
                assert error.headers["Content-Type"] == "application/problem+json"
                assert json.loads(error.read())["status"] == expected
