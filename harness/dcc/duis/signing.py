"""XML signatures of DUIS documents: enveloped, exclusive c14n, ECDSA P-256 with SHA-256.

DUIS names the signer in KeyInfo by its certificate's issuer and serial number
(``X509IssuerSerial``), as DCC Boxed's signing tool writes it; the verifier finds the User whose
certificate that is among those the bench trusts and checks the signature with signxml (over
lxml) against that certificate's key. No canonicalisation is written here.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, replace
from datetime import datetime

from cryptography import x509
from lxml import etree  # type: ignore[import-untyped]  # lxml ships no type hints
from signxml import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
    XMLSigner,
    XMLVerifier,
)
from signxml.exceptions import InvalidInput, InvalidSignature
from signxml.verifier import SignatureConfiguration

from harness.dcc.keys import KeyPair, Keystore, User

DS = "http://www.w3.org/2000/09/xmldsig#"
# signxml logs every canonicalised document at DEBUG: an 8.11's install code would reach logs
# and reports. Its warnings and errors still pass.
logging.getLogger("signxml").setLevel(logging.WARNING)
_CONFIG = SignatureConfiguration(
    require_x509=False,
    signature_methods=frozenset({SignatureMethod.ECDSA_SHA256}),
    digest_algorithms=frozenset({DigestAlgorithm.SHA256}),
    expect_references=1,
)


class SignatureRefused(ValueError):
    """A document whose signature is missing, malformed, from an unknown signer or invalid."""


@dataclass(frozen=True)
class Signer:
    """Who signs: a key pair and the certificate KeyInfo names."""

    key: KeyPair
    certificate: x509.Certificate

    @classmethod
    def of(cls, user: User) -> Signer:
        assert user.certificate is not None
        return cls(user.signing_key(), user.certificate)

    def key_info(self) -> etree._Element:
        """KeyInfo naming the certificate by issuer and serial number, as DCC Boxed writes it
        (built once per certificate; each signature gets a copy)."""
        cached = _KEY_INFO.get(self.certificate)
        if cached is None:
            name = (self.certificate.issuer.rfc4514_string(), self.certificate.serial_number)
            cached = etree.Element(f"{{{DS}}}KeyInfo", nsmap={"ds": DS})
            data = etree.SubElement(cached, f"{{{DS}}}X509Data")
            issuer_serial = etree.SubElement(data, f"{{{DS}}}X509IssuerSerial")
            etree.SubElement(issuer_serial, f"{{{DS}}}X509IssuerName").text = name[0]
            etree.SubElement(issuer_serial, f"{{{DS}}}X509SerialNumber").text = str(name[1])
            _KEY_INFO[self.certificate] = cached
        return copy.deepcopy(cached)

    def sign(self, root: etree._Element) -> etree._Element:
        """``root`` with an enveloped signature appended (a new tree; ``root`` unchanged)."""
        signer = XMLSigner(
            method=SignatureConstructionMethod.enveloped,
            signature_algorithm=SignatureMethod.ECDSA_SHA256,
            digest_algorithm=DigestAlgorithm.SHA256,
            c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
        )
        signer.namespaces = {"ds": DS}
        signed: etree._Element = signer.sign(
            root, key=self.key.private_key_for_signing(), key_info=self.key_info(),
            always_add_key_value=False)
        return signed


#: KeyInfo elements by the certificate they name: one per User certificate, however many
#: Signers a session makes (looked up by the certificate itself: writing its issuer's name out
#: on every signature was a tenth of signing's own cost).
_KEY_INFO: dict[x509.Certificate, etree._Element] = {}


def signer_of(root: etree._Element) -> tuple[str, int]:
    """``(issuer name, serial number)`` KeyInfo names; :class:`SignatureRefused` if none."""
    signatures = root.findall(f"{{{DS}}}Signature")
    if len(signatures) != 1:
        raise SignatureRefused("the document is not signed" if not signatures
                               else "the document has more than one signature")
    serial = signatures[0].findtext(f".//{{{DS}}}X509SerialNumber")
    issuer = signatures[0].findtext(f".//{{{DS}}}X509IssuerName") or ""
    if serial is None or not serial.strip().isdigit():
        raise SignatureRefused("the signature's KeyInfo names no X509SerialNumber")
    return issuer.strip(), int(serial.strip())


def verify(root: etree._Element, keystore: Keystore, *, now: datetime | None = None,
           schema_checked: bool = False) -> tuple[User, etree._Element]:
    """The trusted User who signed ``root`` and the signed content (signature removed);
    :class:`SignatureRefused` otherwise. ``now`` (bench time) judges the certificate's
    validity. ``schema_checked``: ``root`` passed the DUIS XSD, which holds XML Signature's
    own schema for ``ds:Signature``, so signxml need not check the signature against it again
    (a tenth of a verification)."""
    issuer, serial = signer_of(root)
    user = keystore.user_by_certificate(issuer, serial)
    if user is None or user.certificate is None:
        raise SignatureRefused(f"no trusted User has the certificate {issuer or '?'} serial "
                               f"{serial}")
    try:
        config = _CONFIG if now is None else replace(_CONFIG, verification_time=now)
        result = XMLVerifier().verify(root, x509_cert=user.certificate, expect_config=config,
                                      validate_schema=not schema_checked)
    except (InvalidSignature, InvalidInput) as exc:
        raise SignatureRefused(f"the signature does not verify: {exc}") from None
    if isinstance(result, list):  # only with expect_references > 1
        raise SignatureRefused("the signature has more than one reference")
    signed = result.signed_xml
    if signed is None:
        raise SignatureRefused("the signature covers nothing")
    return user, signed


def verify_single(root: etree._Element, keystore: Keystore) -> User:
    """The trusted party (the DCC, for its responses and alerts) whose one signature, wherever
    the XSD puts it (a SMETS1 Response's is inside ``SMETS1SignedResponse``), verifies over
    ``root``; :class:`SignatureRefused` otherwise."""
    signatures = list(root.iter(f"{{{DS}}}Signature"))
    if len(signatures) != 1:
        raise SignatureRefused(f"the document has {len(signatures)} signatures, not one")
    serial = (signatures[0].findtext(f".//{{{DS}}}X509SerialNumber") or "").strip()
    issuer = (signatures[0].findtext(f".//{{{DS}}}X509IssuerName") or "").strip()
    user = keystore.user_by_certificate(issuer, int(serial)) if serial.isdigit() else None
    if user is None or user.certificate is None:
        raise SignatureRefused("the signer is not a party the bench trusts")
    try:
        XMLVerifier().verify(root, x509_cert=user.certificate, expect_config=_CONFIG)
    except (InvalidSignature, InvalidInput) as exc:
        raise SignatureRefused(f"the signature does not verify: {exc}") from None
    return user
