"""Standard Dormant DMCT Migration pack: migrate a dormant installation and judge the result."""
