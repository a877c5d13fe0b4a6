"""Distribution-shift mitigations, one file per method, chosen by ``mitigation=<name>``."""
