"""Identity resolution: who is who. The identity layer a batch is resolved against: the
canonical form of a person (canonical), golden records built from their sources by
survivorship (golden, survivorship), companies found or created (companies) and kept
(company); then blocking, comparison, scoring, the resolver (engine, resolve), batch
re-deduplication and the review queue."""
