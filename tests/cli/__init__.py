"""The ``anyoauth`` command line, run for real in subprocesses against the emulator."""
