"""Mixed migration pack: one active and one dormant meter in one installation."""
