"""The run record and the DMCT Testing Report built from it.

- ``records.py``: one record per test, written as it finishes; ``manifest.py``: ``run.json``
  and ``run-state.json`` (what a run was asked for, how far it got: resume, completeness).
- ``issues.py``: known Testing Issues and attribution; ``dmct_report.py`` and ``build.py``:
  ``dmct-report.json`` per DMC and installation status, with the threshold and the verdict.
- ``model.py``: that JSON as typed, frozen classes, read by every renderer; ``provenance.py``,
  ``review.py``, ``referrals.py``, ``timeline.py``: what the report says of where it comes from,
  for its reviewers, of the referral register and around each failure;
- ``render*.py`` and ``templates/`` (``templating.py``): the HTML and Markdown forms of that
  JSON; ``pdf_links.py``: relative links in the PDF; ``browser.py``: headless Chromium (the PDF
  form, and the browser tests); ``finalise.py`` and ``rebuild.py``: draft and final,
  ``dmct report DIR``.
- ``epcl.py``: the EPCL summary over a run's DMCs; ``allure.py`` and ``allure_env.py``: the same
  story in Allure.
"""
