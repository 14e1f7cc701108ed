"""The ``dcc`` fixture's view of the bench's DCC (``fixtures/dcc.py``)."""

from __future__ import annotations

import pytest

from fixtures.dcc import DccForTest
from harness.dcc.alerts import alert


def test_one_tests_view_of_the_dcc(dcc_bench):
    service = dcc_bench.dcc
    assert service.send("6.15.1", "ESME", role="IS", CredentialType="ManagementKey").ok
    view = DccForTest(service)  # a test that starts now
    assert view.alerts.all() == []
    with pytest.raises(TimeoutError, match="no matching alert within 5 s"):
        view.alerts.expect(alert("KEY_ROTATED"), 5)
    assert view.send("6.23", "ESME", role="IS", NewSupplier="import-supplier-b").code == "I0"
    raised = view.alerts.expect(alert("COS_LOSS", recipient="import-supplier"), 0)
    assert raised.details["new_supplier"] == "import-supplier-b"
    assert [a.code for a in view.alerts.all()] == ["COS_LOSS"]
    request = view.build("7.4", "ESME", user="import-supplier-b")
    assert view.submit(request).code == "I0"
    # Everything else is the bench's DCC's own.
    assert view.catalogue is service.catalogue and view.inventory is service.inventory
    assert view.eui_of("ESME") == dcc_bench.device("ESME").eui
