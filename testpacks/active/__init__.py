"""Active migration pack: migrate an installation a supplier operates, as the consumer feels it."""
