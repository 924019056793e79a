"""Storage: engines and migrations (db), driver-level bulk inserts (bulk), the core tables
(model) and the registry of every table (tables), which completes ``Base.metadata``."""
