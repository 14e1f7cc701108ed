"""Imported once by the fork server of ``dmct run`` (``harness.cli.entries.PRELOAD``): what
every pytest process of a run would load the same way, loaded before the fork, so that a
part of an entry (``harness.cli.parts``) costs little more than its cases.

Only process-wide caches of packaged, read-only data are filled here (the SR catalogue, the
DUIS XSD when installed, England's bank holidays for the bench clock's years, hypothesis's
constants of the harness's modules), and modules the plugin imports at the end of every session
(the report and Allure's writer).
"""

from __future__ import annotations

import contextlib
import gc
import warnings
from datetime import date

import allure_commons.model2  # noqa: F401  (each case's Allure result)

import harness.report.dmct_report
import harness.report.issues  # noqa: F401
from harness.dcc.catalogue import load_sr_catalogue
from harness.dcc.duis.documents import schema_or_none
from harness.workdays import working_days_between

#: Years of bank holidays loaded: the emulated bench clock starts in 2026 and a run covers
#: weeks to months of it.
BANK_HOLIDAY_YEARS = (2025, 2026, 2027)

# A cache that cannot be filled here is filled by the pytest process that needs it, as before.
with contextlib.suppress(Exception):
    load_sr_catalogue()
with contextlib.suppress(Exception):
    schema_or_none()
with contextlib.suppress(Exception):
    for _year in BANK_HOLIDAY_YEARS:
        working_days_between(date(_year, 1, 1), date(_year, 12, 31))  # its bank holidays
# hypothesis reads the constants of every module outside site-packages (the harness's, all
# loaded by now) when a pytest process collects its first property test: read here once, each
# process then reads only its test modules. (A private function of hypothesis: if it goes, each
# process reads them all again, as before.)
with contextlib.suppress(Exception), warnings.catch_warnings():
    warnings.simplefilter("ignore")  # its note that a plugin's import reads its cache
    from hypothesis.internal.conjecture.providers import _get_local_constants

    _get_local_constants()

# Last of the fork server's preload (``PRELOAD`` ends with this module): everything loaded so
# far moves to the collector's permanent generation, so no forked pytest process scans it (nor
# writes the pages it shares with the server while doing so), whatever runs before the
# process's own ``gc.freeze``.
gc.collect()
gc.freeze()
