"""Many fits at once: simulation from a design, prior draws, simulation-based calibration
(``calibration``), power analysis (``power``) and the process or Dask pool that runs the jobs
(``scaleout``)."""
