"""Tests of the test packs: their plans, and runs of them on the emulated bench."""
