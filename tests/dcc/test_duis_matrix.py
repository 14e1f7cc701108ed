"""The catalogue against the DCC's own public data: the request matrix and the DUIS XSD."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from lxml import etree

from harness.dcc.catalogue import load_sr_catalogue
from harness.dcc.duis.bodies import CODECS
from harness.dcc.duis.documents import build_request, load_schema, schema_errors
from harness.dcc.requests import RequestId

CATALOGUE = load_sr_catalogue()


@pytest.fixture(scope="module")
def matrix(duis_tools):
    return {row["Service Reference Variant"]: row for row in duis_tools.matrix()}


@pytest.mark.parametrize("srv", list(CATALOGUE.srvs))
def test_the_catalogue_agrees_with_the_request_matrix(matrix, srv):
    definition = CATALOGUE[srv]
    row = matrix[srv]
    # The matrix's 8.2 name carries a note after a blank line.
    assert definition.name == row["Service Request Name"].split("\n")[0].strip()
    assert definition.service_reference == row["Service Reference"]
    assert definition.critical is (row["Critical"] == "Yes")
    assert set(definition.roles) == set(row["Eligible User Roles"])
    assert definition.non_device is (row["Non-Device Request"] == "Yes")


def test_every_duis_code_is_in_the_xsd_enumeration(duis_tools):
    xsd = etree.parse(str(duis_tools.xsd))
    ns = {"xs": "http://www.w3.org/2001/XMLSchema"}
    enumeration = {e.get("value") for e in xsd.getroot().iterfind(
        "xs:simpleType[@name='ResponseCode']//xs:enumeration", ns)}
    assert len(enumeration) > 100
    duis = {code for code, entry in CATALOGUE.codes.items() if entry.duis}
    own = {code for code, entry in CATALOGUE.codes.items() if not entry.duis}
    assert duis - enumeration == set()
    # A code of the harness's own is not DUIS's, says why, and its documents carry a DUIS code.
    assert own and own & enumeration == set()
    for code in own:
        assert CATALOGUE.codes[code].why and CATALOGUE.codes[code].xml_code in enumeration


@pytest.mark.parametrize("srv", [s for s, d in CATALOGUE.srvs.items() if not d.harness_body])
def test_the_harness_writes_xsd_valid_requests(duis_tools, srv):
    definition = CATALOGUE[srv]
    example = {"integer": 1, "enum": None, "eui64": "00-1B-C5-0C-00-00-00-03",
               "string": "Hello", "hex": "00" * 16}
    params = {}
    for spec in definition.parameters.values():
        if not spec.xml and srv not in CODECS:  # bodies.py writes its parameters
            continue
        params[spec.name] = spec.values[0] if spec.type == "enum" else example[spec.type]
    if srv == "2.2":
        params["UTRN"] = "1" * 20
    target = "00-1B-C5-0C-00-00-00-01"
    for device_type in definition.device_types:
        root = build_request(definition, RequestId("90-B3-D5-1F-30-01-00-00", target, 5),
                             definition.command_variants[0], params, target=target,
                             now=datetime(2026, 1, 5, 9, tzinfo=UTC), device_type=device_type)
        assert schema_errors(load_schema(duis_tools.xsd), root) is None, device_type
