"""Tests for harness.emulator."""
