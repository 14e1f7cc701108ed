"""The run record and the DMCT Testing Report built from it.

``records.py``: one record per test, written as it finishes. ``issues.py``: known Testing
Issues and attribution. ``dmct_report.py``: ``dmct-report.json`` per DMC and installation
status, with the Testing Issue Threshold and the verdict.
"""
