"""What the migration packs share: the migration fixture and the cases every status runs.

Not a pack: it has no ``test_*`` files of its own. Packs import the shared cases into their
modules so each case is reported under the pack (``dormant/test_dormant.py::test_...``).
"""
