"""DUIS at the DCC boundary: signed XML requests in, signed XML responses out.

``tools`` finds (and installs) the DCC's public DUIS tools in a cache outside the repository;
``xml`` builds and parses DUIS documents; ``signing`` signs and verifies their XML signatures;
``gateway`` puts them in front of the S1SP model. See ``docs/duis.md``.
"""
