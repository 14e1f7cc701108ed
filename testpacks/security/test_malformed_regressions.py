"""Malformed ZCL frames kept as explicit cases: the shapes that break ZCL parsers.

Hypothesis draws new examples on every larger run; the frames here are sent on every run, as
literal bytes, so that a shape that once broke a device (or is known to break ZCL parsers:
headers cut short, a manufacturer code cut in half, a string length running past the frame)
stays tested whatever hypothesis draws. A crash found by ``test_malformed.py`` is added here
with the frame that broke the device and the device or defect it broke.

``test_known_malformed_frame_leaves_the_device_unchanged[<name>-<ROLE>]`` sends the frame to
every cluster the device announced, then checks as ``test_malformed.py`` does: still joined,
answering a Basic read (and a Metering read on a meter) with the same state.
"""

from __future__ import annotations

import pytest

from testpacks.security.frames import acts_on_device
from testpacks.security.helpers import REFUSED_BY_DEVICE
from testpacks.security.test_malformed import ROLES, ZigbeeTarget, by_role, zigbee_target

__all__ = ["zigbee_target"]  # the fixture, shared with test_malformed.py

pytestmark = [pytest.mark.pack("security"), pytest.mark.security,
              REFUSED_BY_DEVICE, pytest.mark.destructive]

#: name -> frame (``frame control, [manufacturer code], TSN, command id, payload``) and why.
REGRESSIONS: dict[str, tuple[bytes, str]] = {
    "empty": (b"", "no ZCL header at all"),
    "frame-control-only": (b"\x00", "a header cut after its frame control"),
    "manufacturer-code-cut": (b"\x04\x34", "manufacturer-specific, the code cut in half"),
    "read-attributes-half-id": (b"\x00\x01\x00\x05",
                                "Read_Attributes with half an attribute id"),
    "write-attributes-no-type": (b"\x00\x01\x02\x05\x00",
                                 "Write_Attributes naming an attribute with no data type"),
    "write-attributes-string-overrun": (
        b"\x00\x01\x02\x05\x00\x42\xff",
        "Write_Attributes with a character string claiming 255 bytes and carrying none"),
    "write-attributes-unknown-type": (b"\x00\x01\x02\x00\x00\xfe\x01",
                                      "Write_Attributes with a data type ZCL does not define"),
    "configure-reporting-cut": (b"\x00\x01\x06\x00\x00\x00\x21",
                                "Configure_Reporting cut inside its first record"),
    "unknown-cluster-command": (b"\x01\x01\xfe", "a cluster command id no cluster defines"),
    "response-to-a-server": (b"\x08\x01\x01\x00",
                             "a Read_Attributes_Rsp cut short, sent server-to-client"),
}


@by_role(ROLES)
@pytest.mark.parametrize("name", list(REGRESSIONS))
def test_known_malformed_frame_leaves_the_device_unchanged(zigbee_target: ZigbeeTarget,
                                                          role: str, name: str) -> None:
    frame, why = REGRESSIONS[name]
    target = zigbee_target
    sent = [(cluster, frame) for cluster in target.clusters
            if not acts_on_device(frame, cluster.cluster_id, target.by_key)]
    target.send(sent)
    problem = target.problem()
    assert problem is None, (
        f"the {role} after the malformed frame {frame.hex() or '(empty)'} ({why}) on "
        f"{len(sent)} clusters: {problem}")
