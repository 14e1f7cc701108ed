"""DMCT test packs: one directory per pack (``smoke``, ``dormant``, ``active``, ``mixed``, ``srv``,
``security``). Packs judge devices by what they observe; they never import ``harness.emulator``
or read a profile's ``emulation`` section."""
