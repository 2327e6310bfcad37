"""The sweep specs shipped with mft (YAML data, read by `orchestrator.sweep.spec`)."""
