"""Lead routing: owners and teams, rules, strategies, SLA, scoring, lifecycle.

The pipeline calls :meth:`hub.routing.engine.Routing.after_batch` inside each batch
transaction; the daemon calls :meth:`~hub.routing.engine.Routing.periodic`. Everything else
(rules, strategies, replay) is reachable from those and from ``crmhub assign``/``rules``.
"""
