"""Built-in exam presets (``skd.toml``, ``pppk.toml``), read by :func:`scoring.exam.load_exam`."""
