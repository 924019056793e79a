"""Ingestion: observation batches prepared (prepare), stored in one transaction each
(pipeline, batch, persons, objects, snapshots, state), quarantined when they cannot be
(quarantine), with the planner statistics a bulk load needs (statistics); hand edits of a
contact (manual)."""
