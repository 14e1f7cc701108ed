"""Standard DMCT Service Reference Variant pack: every SRV of the SR catalogue on every device.

Cases, parametrised from the SR catalogue, the DMC under test and its device profiles (one case
id per SRV and device type the catalogue lets it target, ``<srv>-<ROLE>``, whatever the DMC; a
case that does not apply is skipped as *not applicable* with its reason, never dropped):

- ``test_supported_srv_executes[<srv>-<ROLE>]``: an SRV the role's profile supports (``srvs``,
  minus ``expectations.restricted_srvs``), sent by a permitted User Role with valid parameters,
  is answered I0 and the device state observed before and after (ZigBee reads, read SRs, HAN
  events, the optical port) changed as the SRV says; read SRs change nothing, their body must
  agree with what the device shows over ZigBee. State is put back afterwards. The SRVs whose
  body the harness does not model yet (6.12, 6.14.1-3, 6.22, 7.7, 7.8, 7.12, 7.13) are sent
  without parameters and judged by the response code alone: their cases carry the note
  ``response code only`` (the case's evidence and the report's ``note``), here and in the
  unsupported and repeat cases.
- ``test_unsupported_srv_is_refused[<srv>-<ROLE>]``: an SRV the profile does not support (or
  restricts) is refused with E11 and the same observations show no change.
- ``test_every_response_carries_a_response_code[<sampling>]``: cheap reads shared among the
  meters, each answered with a response code (91339/91340 is the known failure); as many as
  detect a rate of 1% (``DMCT_MISSING_CODE_RATE`` sets another: a fraction, 0.0001 to below
  1; anything else is one line, exit 2) with 95% confidence, which the case id states
  (``detects-1pct-at-95pct-299-requests``).
- ``test_srv_repeat_in_one_day[<srv>-<ROLE>]``: a configuration SRV sent 12 times in one bench
  day (more than any plausible limit) is accepted every time, unless
  ``expectations.srv_daily_limits`` documents a limit (then the one over the limit is refused
  with the SRV's own code, and accepted again the next day); a refusal reports the limit
  observed.

Refusal of SRVs to User Roles the catalogue does not permit is the security pack's.

The pack judges only what it observes, against the SR catalogue and the profiles'
``expectations``: it never imports the emulator nor reads a profile's ``emulation`` section, so
it runs unchanged on a real bench. The exercises (parameters, observations, restoring) are the
table in :mod:`testpacks.srv.exercises` (one module per family), on the model of
:mod:`testpacks.srv.exercise` and the bench view of :mod:`testpacks.srv.context`; which case
applies is :mod:`testpacks.srv.plan`.
"""
