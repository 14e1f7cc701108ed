"""The DCC's public DUIS tools, installed with npm into a cache outside the repository.

``@smartdcc/duis-templates`` (the DUIS requests of the DCC's Reference Test Data set),
``@smartdcc/duis-parser`` (``duis-request-matrix.json``: every SRV's name, Critical flag, roles)
and ``@smartdcc/duis-sign-wrap`` (``tool.jar``: DCC Boxed's signing and validation tool, with its
test User keys and the DUIS XSD) are GPL-3.0: the harness uses them at test time and never
copies a file of theirs into the repository. ``python -m harness.dcc.duis.tools install`` (run
by ``.ci/run``) fetches them with ``npm pack`` (no dependency resolution: the harness reads their
data files and runs the jar, never their JavaScript) into
``${DMCT_TOOL_CACHE:-~/.cache/smets1-dmct}/npm`` and unpacks the XSDs from the jar beside them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The packages and the versions the harness was checked against.
PACKAGES = {
    "duis-templates": "0.7.0",
    "duis-parser": "0.6.0",
    "duis-sign-wrap": "0.1.2",
}
#: The DUIS schema file inside ``tool.jar`` and the files it imports.
XSD_NAME = "DUIS Schema V5.1.xsd"
XSD_FILES = (XSD_NAME, "MMC Schema V5.1.xsd", "xmldsig-core-schema.xsd", "XMLSchema.dtd",
             "datatypes.dtd")
JAVA_PACKAGE = "uk.co.smartdcc.boxed.xmldsig"
#: DCC Boxed's test Users (in tool.jar): name on a bench, role, EUI-64, certificate file. One
#: organisation's certificate serves its several roles, as in DCC Boxed.
BOXED_USERS = (
    ("import-supplier", "IS", "90-B3-D5-1F-30-01-00-00", "xml-sign-90B3D51F30010000-ds.pem"),
    ("gas-supplier", "GS", "90-B3-D5-1F-30-01-00-00", "xml-sign-90B3D51F30010000-ds.pem"),
    ("import-supplier-b", "IS", "90-B3-D5-1F-30-03-00-00", "Z1-supplier2-ds.pem"),
    ("dno", "ED", "90-B3-D5-1F-30-02-00-00", "xml-sign-90B3D51F30020000-ds.pem"),
    ("gas-transporter", "GT", "90-B3-D5-1F-30-02-00-00", "xml-sign-90B3D51F30020000-ds.pem"),
)
#: DCC Boxed's devices (its templates' EUI-64s) and the bench role each stands for.
BOXED_DEVICES = {"00-DB-12-34-56-78-90-A0": "ESME", "00-DB-12-34-56-78-90-A1": "GSME",
                 "00-DB-12-34-56-78-90-A2": "CHF"}


class ToolError(RuntimeError):
    """A tool is missing or failed; the message is one line."""


def cache_root() -> Path:
    """``$DMCT_TOOL_CACHE`` or ``~/.cache/smets1-dmct``: never inside the repository."""
    configured = os.environ.get("DMCT_TOOL_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache/smets1-dmct"


def npm_dir(root: Path | None = None) -> Path:
    return (root or cache_root()) / "npm"


@dataclass(frozen=True)
class DuisTools:
    """Where the installed tools are."""

    root: Path

    def package(self, name: str) -> Path:
        return self.root / name

    @property
    def request_matrix(self) -> Path:
        return self.package("duis-parser") / "dist" / "duis-request-matrix.json"

    @property
    def templates(self) -> Path:
        return self.package("duis-templates") / "templates"

    @property
    def tool_jar(self) -> Path:
        return self.package("duis-sign-wrap") / "dist" / "tool.jar"

    @property
    def xsd(self) -> Path:
        """The DUIS XSD as lxml loads it (its import of the MMC schema, a file name with
        spaces, written as a URI libxml2 resolves)."""
        return self.root / "xsd" / "duis.xsd"

    def certificate(self, name: str) -> Path:
        """A DCC Boxed test User's certificate, unpacked from the jar into the cache."""
        return self.root / "certs" / name

    def boxed_dcc_section(self) -> str:
        """A lab config ``dcc`` section trusting DCC Boxed's test Users by certificate alone,
        so documents its tool signs (the User keeps the key: the jar) reach a bench."""
        lines = ["dcc:", "  users:"]
        for name, role, eui, cert in BOXED_USERS:
            lines += [f"    - name: {name}", f"      role: {role}", f"      eui: {eui}",
                      "      organisation: DCC Boxed test User",
                      f"      certificate: {self.certificate(cert)}"]
        return "\n".join(lines) + "\n"

    def missing(self) -> list[str]:
        """What is not installed (empty when every tool is there)."""
        wanted = {"duis-request-matrix.json": self.request_matrix,
                  "duis-templates": self.templates, "tool.jar": self.tool_jar,
                  "the DUIS XSD": self.xsd}
        return [name for name, path in wanted.items() if not path.exists()]

    def matrix(self) -> list[dict[str, Any]]:
        return list(json.loads(self.request_matrix.read_text(encoding="utf-8")))

    def template_files(self) -> list[Path]:
        return sorted(p for p in self.templates.iterdir() if p.suffix.upper() == ".XML")

    # -- the jar ----------------------------------------------------------------------------
    def _java(self, mode: str, document: bytes, *extra: str) -> subprocess.CompletedProcess[bytes]:
        java = shutil.which("java")
        if java is None:
            raise ToolError("java is not installed (Debian: default-jre-headless)")
        return subprocess.run(
            [java, "-cp", str(self.tool_jar), f"{JAVA_PACKAGE}.{mode}", "-", *extra],
            input=document, capture_output=True, timeout=120, check=False)

    def sign(self, document: bytes, *, preserve_counter: bool = True) -> bytes:
        """Sign a DUIS request as DCC Boxed's test User named by its RequestID originator."""
        done = self._java("Sign", document, *(["--preserveCounter"] if preserve_counter else []))
        if done.returncode != 0:
            raise ToolError(f"the DCC tool refused to sign: {_last_line(done.stderr)}")
        return done.stdout

    def validate(self, document: bytes, certificate_pem: Path | None = None) -> str:
        """Check a signed DUIS document (XSD and signature) with the DCC tool; raise
        :class:`ToolError` unless both pass. ``certificate_pem`` is the signer's certificate
        when it is not one of the tool's own test certificates."""
        if certificate_pem is not None:
            # The tool reads the document from a file when it is given a certificate too.
            with _temporary(document) as path:
                done = subprocess.run(
                    [shutil.which("java") or "java", "-cp", str(self.tool_jar),
                     f"{JAVA_PACKAGE}.Validate", str(path), str(certificate_pem)],
                    capture_output=True, timeout=120, check=False)
        else:
            done = self._java("Validate", document)
        log = done.stderr.decode("utf-8", "replace")
        if done.returncode != 0:
            raise ToolError(f"the DCC tool's Validate failed: {_last_line(done.stderr)}")
        if "passed signature check" not in log:
            # The tool passes an unsigned Response after its XSD check alone.
            raise ToolError("the DCC tool's Validate passed no signature check (unsigned?)")
        return log


    def batch(self, jobs: list[tuple[str, Path, Path, str]]) -> list[str]:
        """Run the tool's ``Sign`` or ``Validate`` on many files in one JVM (``ToolBatch.java``
        beside this module): ``(mode, input, output, extra)`` each; the tool's result codes
        (``SUCCESS`` ...). Output and the tool's log go to ``output`` and ``output.log``."""
        java = shutil.which("java")
        if java is None:
            raise ToolError("java is not installed (Debian: default-jre-headless)")
        source = Path(__file__).with_name("ToolBatch.java")
        lines = "".join("\t".join([mode, str(src), str(dst), *([extra] if extra else [])])
                        + "\n" for mode, src, dst, extra in jobs)
        done = subprocess.run([java, "-cp", str(self.tool_jar), str(source)],
                              input=lines.encode(), capture_output=True, timeout=600,
                              check=False)
        if done.returncode != 0:
            raise ToolError(f"the DCC tool batch failed: {_last_line(done.stderr)}")
        results = done.stdout.decode().split()
        if len(results) != len(jobs):
            raise ToolError(f"the DCC tool batch answered {len(results)} of {len(jobs)}")
        return results


class _temporary:
    """A temporary file holding ``data`` (the jar reads a named file in two-argument mode)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __enter__(self) -> Path:
        import tempfile

        handle, name = tempfile.mkstemp(suffix=".xml")
        with os.fdopen(handle, "wb") as out:
            out.write(self.data)
        self.path = Path(name)
        return self.path

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)


def _last_line(stderr: bytes) -> str:
    lines = [line for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def find_tools(root: Path | None = None) -> DuisTools:
    """The tools in the cache (possibly incomplete: see :meth:`DuisTools.missing`)."""
    return DuisTools(npm_dir(root))


def install(root: Path | None = None, *, quiet: bool = False) -> DuisTools:
    """Fetch the packages with ``npm pack`` into the cache and unpack the XSDs from the jar.

    ``npm pack`` rather than ``npm install``: duis-templates 0.7.0 depends on a duis-parser
    version the registry does not publish, and the harness needs only the packages' files.
    """
    tools = find_tools(root)
    npm = shutil.which("npm")
    if npm is None:
        raise ToolError("npm is not installed (Node 20 and npm: see .ci/run)")
    tools.root.mkdir(parents=True, exist_ok=True)
    downloads = tools.root / "tarballs"
    downloads.mkdir(exist_ok=True)
    for name, version in PACKAGES.items():
        target = tools.package(name)
        stamp = target / ".version"
        if stamp.exists() and stamp.read_text().strip() == version:
            continue
        done = subprocess.run([npm, "pack", "--silent", f"@smartdcc/{name}@{version}"],
                              cwd=downloads, capture_output=True, timeout=300, check=False)
        if done.returncode != 0:
            raise ToolError(f"npm pack @smartdcc/{name}@{version} failed: "
                            f"{_last_line(done.stderr)}")
        tarball = downloads / done.stdout.decode().strip().splitlines()[-1]
        shutil.rmtree(target, ignore_errors=True)
        with tarfile.open(tarball) as archive:
            archive.extractall(downloads / "unpacked", filter="data")
        shutil.move(str(downloads / "unpacked" / "package"), target)
        stamp.write_text(version)
        if not quiet:
            print(f"installed @smartdcc/{name}@{version} in {target}")
    xsd_dir = tools.xsd.parent
    xsd_dir.mkdir(exist_ok=True)
    with zipfile.ZipFile(tools.tool_jar) as jar:
        for member in XSD_FILES:
            (xsd_dir / member).write_bytes(jar.read(member))
        certs = tools.root / "certs"
        certs.mkdir(exist_ok=True)
        for _name, _role, _eui, cert in BOXED_USERS:
            (certs / cert).write_bytes(jar.read(cert))
    text = (xsd_dir / XSD_NAME).read_text(encoding="utf-8")
    tools.xsd.write_text(text.replace('schemaLocation="MMC Schema V5.1.xsd"',
                                      'schemaLocation="MMC%20Schema%20V5.1.xsd"'),
                         encoding="utf-8")
    return tools


def boxed_lab(out: Path) -> Path:
    """The emulated lab config with a ``dcc`` section trusting DCC Boxed's test Users."""
    from harness.config import default_lab_config_path

    text = default_lab_config_path().read_text(encoding="utf-8")
    base = default_lab_config_path().parent
    # Paths in the copy stay those of the shipped lab config.
    text = text.replace("\nprofile_paths: [", f"\nprofile_paths: [{base}/")
    out.write_text(text.rstrip("\n") + "\n" + find_tools().boxed_dcc_section(),
                   encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "boxed-lab":
        print(boxed_lab(Path(args[1])))
        return 0
    if args != ["install"] and args != ["where"]:
        print("usage: python -m harness.dcc.duis.tools install|where|boxed-lab OUT.yaml",
              file=sys.stderr)
        return 2
    try:
        tools = install() if args == ["install"] else find_tools()
    except ToolError as exc:
        print(f"dmct duis tools: {exc}", file=sys.stderr)
        return 1
    missing = tools.missing()
    print(f"DUIS tools in {tools.root}" + (f" (missing: {', '.join(missing)})" if missing
                                            else ""))
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
