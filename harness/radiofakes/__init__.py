"""Byte-level fakes of real coordinator dongles, for running zigpy's radio libraries in CI.

``devices`` is the air shared by every fake (scripted devices, trust centre); ``znp`` speaks
Z-Stack's MT protocol to zigpy-znp; ``ezsp`` speaks EmberZNet's EZSP over ASH to bellows;
``serve`` puts a fake on ``socket://127.0.0.1:PORT``. Written by this project from the public
protocol descriptions and the libraries' observable behaviour.
"""
