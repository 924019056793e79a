"""Data protection: the right of access (``crmhub person export``), erasure that stays
erased across re-syncs (``crmhub person forget`` and suppression at ingest), opt-out and
consent per contact point, and retention of interactions."""
