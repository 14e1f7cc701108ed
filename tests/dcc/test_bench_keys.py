"""A bench whose lab config has a ``dcc`` section signs Critical SRs with the configured keys.

The emulated bench stands in for a real one here: same lab config section, same secrets file,
same S1SP; only the devices are emulated.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from labkit import LabFiles

from harness.bench import Bench
from harness.config import ConfigError, load_lab_config
from harness.dcc.keys import KeyPair, Keystore

SUPPLIER_EUI = "90-B3-D5-1F-30-10-00-01"
DCC_SECTION = f"""
secrets_file: secrets.yaml
dcc:
  users:
    - name: import-supplier      # the test PKI has a User of this name too
      role: IS
      eui: {SUPPLIER_EUI}
      organisation: Lab A Energy
      key: supplier-signing
"""


def _write_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = ec.generate_private_key(ec.SECP256R1())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return key


@pytest.fixture
def lab_path(lab_files: LabFiles) -> Path:
    _write_key(lab_files.root / "keys" / "supplier.pem")
    (lab_files.root / "secrets.yaml").write_text("keys:\n  supplier-signing: keys/supplier.pem\n")
    return lab_files.lab(append=DCC_SECTION)


@pytest.fixture
def keyed_bench(lab_path: Path, tmp_path: Path) -> Iterator[Bench]:
    started = Bench.start(load_lab_config(lab_path, env={}), env={},
                          evidence_dir=tmp_path / "evidence")
    try:
        started.bring_up()
        yield started
    finally:
        started.stop()


def test_critical_srs_are_signed_with_the_configured_key(keyed_bench, lab_path):
    bench = keyed_bench
    lab = bench.lab
    configured = (lab_path.parent / "keys" / "supplier.pem").read_bytes()
    public = serialization.load_pem_private_key(configured, None).public_key()
    supplier = bench.keystore.user("import-supplier")
    assert supplier.eui == SUPPLIER_EUI
    assert supplier.key.public.key.public_numbers() == public.public_numbers()
    assert sorted(bench.keystore.users) == ["import-supplier"]

    dcc = bench.dcc
    assert dcc.keystore is bench.keystore
    # The ESME's responsible supplier is the configured User.
    assert dcc.inventory.get(bench.device("ESME").eui).responsible_supplier == "import-supplier"

    response = dcc.send("7.2", "ESME", role="IS")
    assert response.code == "I0", response
    assert response.request_id.startswith(f"{SUPPLIER_EUI}:")

    # The same request signed by the test-PKI key of the same name is not the User's.
    test_pki_key = KeyPair.derive("import-supplier", lab.seed)
    assert test_pki_key.public == Keystore.test_pki(lab.seed).user("import-supplier").key.public
    request = dcc.build("7.2", "ESME", role="IS")
    refused = dcc.submit(request, key=test_pki_key)
    assert refused.code == "E1", refused
    assert "signature does not verify" in refused.detail
    # ... while the configured key's signature on that very document goes through.
    request = dcc.build("7.1", "ESME", role="IS")
    assert dcc.submit(request, key=supplier.key).code == "I0"


def test_roles_without_a_user_are_a_clear_key_error(keyed_bench):
    bench = keyed_bench
    dcc = bench.dcc
    with pytest.raises(KeyError, match="no DCC User with role 'GS' on this bench"):
        dcc.send("7.2", "GSME", role="GS")
    # With no GS User nobody is registered as the GSME's supplier.
    assert dcc.inventory.get(bench.device("GSME").eui).responsible_supplier is None
    assert dcc.send("7.4", "ESME", role="IS").code == "I0"


def test_a_bad_key_stops_the_bench_before_the_radio(lab_path, tmp_path):
    (lab_path.parent / "keys" / "supplier.pem").write_text("not a key\n")
    lab = load_lab_config(lab_path, env={})
    with pytest.raises(ConfigError) as info:
        Bench.start(lab, env={}, evidence_dir=tmp_path / "evidence")
    assert info.value.field == "keys.supplier-signing"
    assert "is not PEM" in info.value.message
