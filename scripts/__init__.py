"""Setting up, building and checking the book, run from the repository's root as
``python -m scripts.<name>``: ``execute_notebooks`` (execute chapters and record their runs),
``install_spec`` (the chapters' setup cells and their pins), ``pins`` (the torch pin),
``update_lock`` (the hashed lock file). The shell scripts beside them set up (``setup.sh``),
build (``build.sh``) and test (``test.sh``)."""
