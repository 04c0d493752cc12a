"""What compares d2l_lite with d2l 1.0.3: the training-speed benchmark (``bench_training``),
the parity goldens (``make_goldens``, which writes ``tests/goldens/``) and the import of
d2l 1.0.3 they share (``d2l_reference``). Run from the repository's root as
``python -m benchmarks.<name>``."""
