"""The run record and the DMCT Testing Report built from it.

- ``records.py``: one record per test, written as it finishes; ``manifest.py``: ``run.json``
  and ``run-state.json`` (what a run was asked for, how far it got: resume, completeness).
- ``issues.py``: known Testing Issues and attribution; ``dmct_report.py`` and ``build.py``:
  ``dmct-report.json`` per DMC and installation status, with the threshold and the verdict.
- ``render*.py``: the HTML and Markdown forms of that JSON; ``browser.py``: headless Chromium
  (the PDF form, and the browser tests); ``finalise.py`` and ``rebuild.py``: draft and final,
  ``dmct report DIR``.
- ``epcl.py``: the EPCL summary over a run's DMCs; ``allure.py``: the same story in Allure.
"""
