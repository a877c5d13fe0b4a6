"""The tools beside the app: bench (make bench), export (bcx-export), expert training
(bcx-expert)."""
