"""DUIS at the DCC boundary: signed XML requests in, signed XML responses out.

``tools`` finds (and installs) the DCC's public DUIS tools in a cache outside the repository;
``documents`` builds, parses and XSD-validates DUIS documents; ``alerts`` builds and reads the
DUIS alert documents the DCC sends Users; ``bodies`` reads and writes the
DUIS bodies of the SRVs the harness models; ``signing`` signs and verifies their XML signatures;
``gateway`` puts them in front of the S1SP model; ``templates`` aims the DCC's Reference Test
Data requests at a bench. See ``docs/duis.md``.
"""
