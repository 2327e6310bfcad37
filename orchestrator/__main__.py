"""`python -m orchestrator` is the `mft` command."""

from orchestrator.cli.app import main

main()
