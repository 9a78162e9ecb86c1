"""Shared plumbing for the slim scripts: TF 2.21 compatibility, flags, errors, I/O, training/eval/export."""
