"""Running crmhub: the hub a command opens (runtime), a connector's sync (sync), the daemon
(daemon) with its leases, forked children, systemd notifications, retention and routing
chores, and the quarantine's retry and purge."""
