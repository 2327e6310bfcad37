"""`python -m orchestrator` is the `mft` command."""

from orchestrator.cli import main

main()
