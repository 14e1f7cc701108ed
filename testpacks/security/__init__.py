"""Device security pack: negative tests of SMETS1 devices, as the seeds ask for.

The seeds name HAN device security as the open residual risk and propose negative security
testing of SMETS1 devices in test laboratories (the "SMETS1 Device Security Testing Completion
Report"). Every case here is something an attacker or a faulty system might try; the expected
outcome is always *refused, and nothing changed*. Cases (``docs/security-pack.md`` has the
full table):

- ``test_join_time_period.py`` (SR 8.11, the PPMID): JoinTimePeriods outside 1..3600 s (0, 3601,
  2.5) refused with E081101 and the device log unchanged; for 1, 254, 255, 256 and 3600 s a
  PPMID switched on just before the period ends joins (91342: a CHF that cuts a period above
  254 s short, or refuses it, fails here), one switched on just after it ends does not.
- ``test_device_log.py``: a device not in the CHF device log, a wrong install code (valid CRC),
  an install code with a bad CRC (E081102) and a device removed by 8.11 Remove: none gets on
  the HAN.
- ``test_keys.py``: after a confirmed management key rotation, a command signed with the old
  key, a replayed counter, a tampered signature and no signature are each refused by the
  device, which says why (status), logs it (6.13 Security log) and changes nothing.
- ``test_restrictions.py``: SRVs a profile documents as not available via DCC services after
  enrolment (``expectations.restricted_srvs``: the Liberty 110's remote override and boost
  configuration) are refused with E11 and change nothing; the boost button keeps working per
  the HAN configuration (``expectations.boost_from_han_config``).
- ``test_roles.py``: every SRV the DMC supports, sent by each User Role the SR catalogue does not
  permit, is refused with E2 and changes nothing.
- ``test_dno_certificate.py`` (risk 9): a wrong DNO's certificate placed in the ESME's network
  operator slot can be replaced by the registered DNO.
- ``test_han_commands.py``: supply changes sent to a meter over ZigBee (ChangeSupply, a
  LocalChangeSupply to Off, or to On after a Disable Supply): refused, the supply unchanged.
- ``test_malformed.py``: malformed ZCL frames (hypothesis) on every cluster of every device,
  and well-formed state-changing ones; random bytes on the optical port and the debug console:
  the device still answers and its state is unchanged.

Each case says who refuses its attempt (``helpers.REFUSED_BY_DEVICE`` / ``REFUSED_BY_DCC``):
the device, observed over the HAN or a serial port, or the DCC side (the S1SP model) before any
device is contacted; the report's device security summary counts the device's alone.

The pack judges only what it observes (Service Responses, device answers to envelopes, ZigBee
reads, optical readouts, console output, HAN events) against the SR catalogue and the profiles'
``expectations``. It never imports the emulator nor reads a profile's ``emulation`` section, so
it runs unchanged on a real bench: cases that could damage a real device are ``destructive``,
cases that need a relay channel or a console the bench lacks are *blocked*.
"""
