"""Identity resolution: who is who. Survivorship builds golden records from sources."""
