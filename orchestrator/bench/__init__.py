"""What `mft bench` measures: answering and training throughput (driver side)."""
