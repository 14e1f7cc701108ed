"""Smoke pack: the path from a lab config to every device, over ZigBee and over serial."""
