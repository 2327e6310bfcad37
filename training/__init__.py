"""Worker side of mft: knowledge sets, objectives, the FSDP2 loop and checkpoints."""
