"""One trial, driver side: flags/YAML → TrialConfig, the checks before Ray, the Train driver, failures."""
